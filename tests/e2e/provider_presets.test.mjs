// Provider presets against the strict fake upstream's provider modes: every preset in the
// plugins directory is added with `tianshu channel add --provider P --key-stdin` and runs a
// Claude-Code-shaped tool loop (a max_tokens far above any model's limit, thinking on, tools,
// a tool_use answered by a tool_result) through the gateway with zero rejections. The same
// loop through a gateway whose presets lack the model's capability entry (the clamp and the
// reasoning rule removed) is refused by the provider mode: the modes are really strict and the
// presets are what makes the loop pass. The provider's cache telemetry comes back as
// Anthropic's cache_read_input_tokens.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { startStack, TIANSHU_BIN, PLUGINS_DIR, REPO_DIR } from './lib/stack.mjs';

const execFileP = promisify(execFile);
const { startFakeUpstream } = await import(path.join(REPO_DIR, 'tests', 'fake_upstream', 'fake_upstream.mjs'));

const KEY = 'sk-provider-key';
const HUGE_MAX_TOKENS = 200000; // above every model's output limit, as a careless client sends

// preset -> the model the loop uses, the fake's provider mode, whether the model thinks, the
// route the adapter calls (base URL suffix) and extra scenario keys.
const CASES = {
  deepseek: { model: 'deepseek-reasoner', mode: 'deepseek', thinks: true },
  moonshot: { model: 'kimi-k2-thinking', mode: 'kimi', thinks: true },
  qwen: { model: 'qwen-plus', mode: 'qwen', thinks: true },
  zhipu: { model: 'glm-4.6', mode: 'zhipu', thinks: true },
  doubao: { model: 'doubao-seed-1-6-250615', mode: 'doubao', thinks: true },
  openai: { model: 'gpt-4o', mode: 'openai' },
  minimax: { model: 'MiniMax-M2' },
  qianfan: { model: 'ernie-4.5-turbo-128k' },
  hunyuan: { model: 'hunyuan-turbos-latest' },
  siliconflow: { model: 'deepseek-ai/DeepSeek-V3' },
  xai: { model: 'grok-4' },
  openrouter: { model: 'deepseek/deepseek-chat', models: true },
  ollama: { model: 'qwen3-coder:30b', models: true, keyless: true },
  lmstudio: { model: 'qwen/qwen3-coder-30b', models: true, keyless: true },
  anthropic: { model: 'claude-sonnet-4-5', protocol: 'anthropic', suffix: '/anthropic', scenario: { max_output_tokens: 64000 } },
  gemini: { model: 'gemini-2.5-pro', protocol: 'gemini', suffix: '/v1beta' },
};

const TOOLS = [
  { name: 'Read', description: 'Read a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] } },
  { name: 'Write', description: 'Write a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' }, content: { type: 'string' } }, required: ['file_path', 'content'] } },
];

function presetFiles(dir) {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.preset.json')).sort();
}

function presetOf(dir, name) {
  return JSON.parse(fs.readFileSync(path.join(dir, `${name}.preset.json`), 'utf8'));
}

function scenarioFor(name, c) {
  return {
    api_key: KEY,
    ...(c.keyless ? { require_key: false } : {}),
    ...(c.mode ? { provider: c.mode } : {}),
    ...(c.thinks ? { thinking_models: [c.model] } : {}),
    models: [c.model],
    ...(c.scenario ?? {}),
    turns: [
      { match: `LOOP-${name}`, times: 0, reasoning: c.thinks ? 'I should read the file first.' : undefined,
        tool_calls: [{ id: `call_${name}_1`, name: 'Read', arguments: { file_path: 'notes.txt' } }],
        usage: { input_tokens: 40, cache_read_input_tokens: 1200, output_tokens: 12 } },
      { match: 'contents of notes', times: 0, text: `Done ${name}.` },
    ],
  };
}

async function cli(args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(TIANSHU_BIN, args, { timeout: 30000 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

async function messages(stack, body) {
  const r = await fetch(`${stack.gateway}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, body: await r.json() };
}

// Adds one channel per case (each to its own fake upstream) and waits until each routes.
async function addChannels(stack, pluginsDir, only) {
  const fakes = {};
  for (const [name, c] of Object.entries(CASES)) {
    if (only && !only.includes(name)) continue;
    const fake = await startFakeUpstream({ scenario: scenarioFor(name, c), port: 0 });
    fakes[name] = fake;
    const base = `${fake.url}${c.suffix ?? '/v1'}`;
    const args = ['channel', 'add', '--data', stack.dataDir, '--plugins-dir', pluginsDir, '--name', `p-${name}`,
      '--provider', name, '--base-url', base, '--map', `preset-${name}=${c.model}`];
    if (c.models) args.push('--models', c.model);
    if (!c.keyless) args.push('--key-stdin');
    const out = await cli(args, c.keyless ? undefined : `# ${name}\n${KEY}\n`);
    assert.match(out.stdout, new RegExp(`provider ${name}`), out.stdout);
  }
  return fakes;
}

async function loop(stack, name, c) {
  const model = `preset-${name}`; // not claude-*: the stack's own channel maps those
  const base = {
    model, max_tokens: HUGE_MAX_TOKENS, tools: TOOLS, stream: false,
    ...(c.thinks || c.protocol === 'anthropic' ? { thinking: { type: 'enabled', budget_tokens: 16000 } } : {}),
  };
  const user = { role: 'user', content: `Read notes.txt LOOP-${name}` };
  let first;
  // The gateway picks a new channel up within ~1 s: until then the demo model answers the
  // unknown name (it never reaches a fake upstream).
  for (let i = 0; i < 100; i++) {
    first = await messages(stack, { ...base, messages: [user] });
    if (first.body?.model !== 'demo-model') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (first.status !== 200) return { first };
  const toolUse = first.body.content.find((b) => b.type === 'tool_use');
  assert.ok(toolUse, `${name}: the first answer calls a tool: ${JSON.stringify(first.body)}`);
  const second = await messages(stack, {
    ...base,
    messages: [user, { role: 'assistant', content: first.body.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: 'the contents of notes.txt' }] }],
  });
  return { first, second };
}

test('every preset runs a tool loop against its provider mode with no rejection', { timeout: 300000 }, async (t) => {
  const files = presetFiles(PLUGINS_DIR);
  assert.ok(files.length >= 16, `the build's plugins directory holds the presets (${files.length})`);
  for (const f of files) {
    const name = f.replace('.preset.json', '');
    assert.ok(CASES[name], `preset ${name} has a case in this test`);
  }
  const stack = await startStack();
  t.after(() => stack.stop());
  const fakes = await addChannels(stack, PLUGINS_DIR);
  t.after(() => Promise.all(Object.values(fakes).map((f) => f.close())));

  const listed = JSON.parse((await cli(['channel', 'presets', '--json', '--plugins-dir', PLUGINS_DIR])).stdout);
  assert.deepEqual(listed.map((p) => p.provider).sort(), files.map((f) => f.replace('.preset.json', '')));

  const channels = JSON.parse((await cli(['channel', 'list', '--json', '--data', stack.dataDir])).stdout);
  for (const [name, c] of Object.entries(CASES)) {
    const ch = channels.find((x) => x.name === `p-${name}`);
    assert.equal(ch.provider, name);
    assert.equal(ch.keys.length, c.keyless ? 0 : 1, `${name}: the key from --key-stdin, the comment line skipped`);
    assert.ok(!JSON.stringify(ch).includes(KEY), 'no key in the channel list');
  }

  for (const [name, c] of Object.entries(CASES)) {
    await t.test(name, async () => {
      const { first, second } = await loop(stack, name, c);
      const rejected = fakes[name].requests.filter((r) => r.status !== 200);
      assert.deepEqual(rejected.map((r) => r.error), [], `${name}: the provider mode refused nothing`);
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(second.status, 200, JSON.stringify(second.body));
      assert.equal(second.body.content.find((b) => b.type === 'text')?.text, `Done ${name}.`);
      const sent = fakes[name].requests.filter((r) => r.status === 200).map((r) => r.body);
      assert.equal(sent.length, 2);
      // The preset's own figure, read from its file: the request is clamped to exactly that.
      const caps = presetOf(PLUGINS_DIR, name).models[c.model] ?? {};
      const limit = sent[0].max_tokens ?? sent[0].max_completion_tokens ?? sent[0].generationConfig?.maxOutputTokens;
      if (caps.max_output_tokens) {
        assert.equal(limit, caps.max_output_tokens, `${name}: max_tokens clamped to the preset's limit`);
        assert.match(first.headers.get('x-tianshu-decision') ?? '', /clamp/, `${name}: the clamp is a visible decision`);
      } else {
        assert.equal(limit, HUGE_MAX_TOKENS, `${name}: no known limit, nothing changed`);
      }
      if (caps.thinking === 'reasoning_content') {
        const assistant = sent[1].messages.find((m) => m.role === 'assistant');
        assert.equal(assistant.reasoning_content, 'I should read the file first.', `${name}: reasoning sent back`);
      }
      assert.equal(first.body.usage.cache_read_input_tokens, 1200, `${name}: the provider's cache telemetry mapped`);
      if (c.keyless) assert.equal(fakes[name].requests[0].headers.authorization, undefined, `${name}: no key, no Authorization`);
    });
  }
});

test('without the preset capability entries the same loop is refused by the provider modes', { timeout: 300000 }, async (t) => {
  // A plugins directory with the same adapters and presets whose model tables are emptied.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tianshu-presets-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const f of fs.readdirSync(PLUGINS_DIR)) {
    const from = path.join(PLUGINS_DIR, f);
    if (f.endsWith('.preset.json')) {
      const p = JSON.parse(fs.readFileSync(from, 'utf8'));
      p.models = {};
      p.default_models = [];
      fs.writeFileSync(path.join(dir, f), JSON.stringify(p));
    } else {
      fs.symlinkSync(from, path.join(dir, f));
    }
  }
  const strict = ['deepseek', 'moonshot', 'qwen', 'zhipu', 'doubao', 'openai', 'anthropic'];
  const stack = await startStack({ pluginsDir: dir });
  t.after(() => stack.stop());
  const fakes = await addChannels(stack, dir, strict);
  t.after(() => Promise.all(Object.values(fakes).map((f) => f.close())));
  for (const name of strict) {
    await t.test(name, async () => {
      const { first, second } = await loop(stack, name, CASES[name]);
      const failed = first.status !== 200 ? first : second;
      assert.notEqual(failed.status, 200, `${name}: refused without the preset's table`);
      const rejected = fakes[name].requests.filter((r) => r.status === 400);
      assert.ok(rejected.length >= 1, `${name}: the provider mode refused it: ${JSON.stringify(failed.body)}`);
    });
  }
});
