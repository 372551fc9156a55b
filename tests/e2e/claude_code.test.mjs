// The real Claude Code CLI (node_modules/.bin/claude) through Tianshu to the strict fake upstream.
// Run: node --test tests/e2e/claude_code.test.mjs   (needs `npm ci` in tests/e2e and a build)
//
// How Claude Code is run (see README.md in this folder):
//   claude -p "<task>" --output-format json --permission-mode acceptEdits --model <m>
//   in a temporary working directory, with a temporary HOME (no user config), and an
//   environment holding only PATH, HOME, ANTHROPIC_BASE_URL=<gateway>,
//   ANTHROPIC_AUTH_TOKEN=<demo key>, DISABLE_TELEMETRY, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC,
//   DISABLE_AUTOUPDATER. acceptEdits works as root; --dangerously-skip-permissions is not used.
//
// Each test starts its own stack, scripted with the paths of its own temp dir. The upstream is
// OpenAI-shaped (channel `up`, openai_compat), so Claude Code's tool calls travel
// Anthropic -> canonical -> OpenAI and back, streamed, with fragmented arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startStack, requireNodeModules, NODE_MODULES } from './lib/stack.mjs';

requireNodeModules('@anthropic-ai/claude-code');
const CLAUDE_BIN = path.join(NODE_MODULES, '.bin', 'claude');
const CLAUDE_TIMEOUT_MS = Number(process.env.TIANSHU_E2E_CLAUDE_TIMEOUT_MS || 120000);
// The tool tasks pin a 4.6-generation model so their scripted turns stay simple; the last
// test runs Claude Code's default model, which also sends mid-conversation system messages.
const MODEL = process.env.TIANSHU_E2E_CLAUDE_MODEL || 'claude-sonnet-4-6';

// Answers any request no scripted turn matched (e.g. a side request Claude Code may send).
const FALLBACK = { text: 'OK.', times: 0 };

function tempDir(prefix) {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

// Runs `claude -p task` and resolves { code, signal, stdout, stderr, json }.
async function runClaude(stack, cwd, task, extraArgs = ['--model', MODEL]) {
  const home = tempDir('tianshu-e2e-home-');
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    ANTHROPIC_BASE_URL: stack.gateway,
    ANTHROPIC_AUTH_TOKEN: stack.apiKey,
    DISABLE_TELEMETRY: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
  };
  try {
    const child = spawn(CLAUDE_BIN, ['-p', task, '--output-format', 'json',
      '--permission-mode', 'acceptEdits', ...extraArgs], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, CLAUDE_TIMEOUT_MS);
    const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    let json = null;
    try { json = JSON.parse(stdout.trim().split('\n').at(-1)); } catch { /* reported below */ }
    const report = () => `claude exit=${code} signal=${signal}${timedOut ? ' (timed out)' : ''}\n` +
      `stdout: ${stdout}\nstderr: ${stderr}\nupstream requests: ${summarise(stack.requests())}\n` +
      `gateway log:\n${stack.logs().split('\n').filter((l) => l.includes('"msg":"request"')).join('\n')}`;
    return { code, signal, stdout, stderr, json, report };
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

function summarise(reqs) {
  return JSON.stringify(reqs.map((r) => ({ n: r.n, status: r.status, turn: r.turn, error: r.error,
    roles: r.body?.messages?.map((m) => m.role).join(',') })));
}

function assertSuccess(run, expectedResult) {
  if (process.env.TIANSHU_E2E_VERBOSE) console.log(run.report());
  assert.ok(run.json, `the CLI printed a JSON result\n${run.report()}`);
  assert.equal(run.json.type, 'result', run.report());
  assert.equal(run.json.subtype, 'success', run.report());
  assert.equal(run.json.is_error, false, run.report());
  assert.equal(run.code, 0, run.report());
  if (expectedResult !== undefined) assert.equal(run.json.result, expectedResult, run.report());
}

// Upstream requests answered by scripted turn `i` (0-based in our list; the stack prepends
// the readiness probe turn, so the fake upstream's index is i + 1).
const byTurn = (stack, i) => stack.requests().filter((r) => r.turn === i + 1);

// The tool messages of an upstream (OpenAI-shaped) request, content flattened to text.
function toolMessages(req) {
  return req.body.messages.filter((m) => m.role === 'tool').map((m) => ({
    id: m.tool_call_id,
    text: typeof m.content === 'string' ? m.content : m.content.map((p) => p.text ?? '').join(''),
  }));
}

test('claude code writes a file through a streamed Write tool call', async (t) => {
  const cwd = tempDir('tianshu-e2e-cc-write-');
  const target = path.join(cwd, 'hello.txt');
  const content = 'Hello from Tianshu e2e\nsecond line: naïve ✓ 你好\n{"json": [1, 2, "three"]}\n';
  const stack = await startStack({ scenario: { turns: [
    { match: 'E2E-CC-WRITE', text: 'I will create the file.',
      tool_calls: [{ id: 'call_write_1', name: 'Write',
        arguments: JSON.stringify({ file_path: target, content }) }],
      stream: { chunk_size: 5, split_tool_arguments: true, delay_ms: 1 } },
    { match: target, text: 'Created hello.txt.', stream: { chunk_size: 4 } },
    FALLBACK,
  ] } });
  t.after(async () => { await stack.stop(); fs.rmSync(cwd, { recursive: true, force: true }); });

  const run = await runClaude(stack, cwd, 'Create the file hello.txt with the text I gave you. E2E-CC-WRITE');
  assertSuccess(run, 'Created hello.txt.');
  // The gateway knows the CLI's session (its X-Claude-Code-Session-Id): one for all its turns.
  const cliLines = stack.logs().split('\n').filter((l) => l.includes('"msg":"request"'))
    .map((l) => JSON.parse(l)).filter((l) => l.session_source !== 'derived');  // not the probes
  assert.ok(cliLines.length >= 2, `the CLI's turns were logged\n${run.report()}`);
  assert.ok(cliLines.every((l) => l.session_source === 'header'), run.report());
  assert.equal(new Set(cliLines.map((l) => l.session)).size, 1, run.report());
  assert.ok(fs.existsSync(target), `hello.txt exists\n${run.report()}`);
  assert.equal(fs.readFileSync(target, 'utf8'), content);

  // The upstream saw the tool call in the history and the Write tool's result as a tool message.
  const [second] = byTurn(stack, 1);
  assert.ok(second, `the follow-up turn answered\n${run.report()}`);
  const assistant = second.body.messages.findLast((m) => m.role === 'assistant');
  assert.equal(assistant.tool_calls.length, 1);
  assert.equal(assistant.tool_calls[0].function.name, 'Write');
  assert.deepEqual(JSON.parse(assistant.tool_calls[0].function.arguments), { file_path: target, content });
  const tools = toolMessages(second);
  assert.equal(tools.length, 1);
  assert.equal(tools[0].id, assistant.tool_calls[0].id);
  for (const r of stack.requests()) assert.equal(r.status, 200, run.report());
});

test('claude code sends a Read tool result (with a marker) back to the upstream', async (t) => {
  const cwd = tempDir('tianshu-e2e-cc-read-');
  const marker = `MARKER-${crypto.randomBytes(8).toString('hex')}`;
  const notes = path.join(cwd, 'notes.txt');
  fs.writeFileSync(notes, `these are the notes\nthe secret marker is ${marker}\n`);
  const stack = await startStack({ scenario: { turns: [
    { match: 'E2E-CC-READ', tool_calls: [{ id: 'call_read_1', name: 'Read',
      arguments: JSON.stringify({ file_path: notes }) }], stream: { chunk_size: 3 } },
    { match: marker, text: `The marker is ${marker}.` },
    FALLBACK,
  ] } });
  t.after(async () => { await stack.stop(); fs.rmSync(cwd, { recursive: true, force: true }); });

  const run = await runClaude(stack, cwd, 'What is the secret marker in notes.txt? E2E-CC-READ');
  assertSuccess(run, `The marker is ${marker}.`);
  const [second] = byTurn(stack, 1);
  assert.ok(second, `the upstream received a request containing the marker\n${run.report()}`);
  const tools = toolMessages(second);
  assert.equal(tools.length, 1, run.report());
  assert.ok(tools[0].text.includes(marker), `the tool message carries the file content: ${tools[0].text}`);
  const assistant = second.body.messages.findLast((m) => m.role === 'assistant');
  assert.equal(tools[0].id, assistant.tool_calls[0].id);
});

test('claude code handles two parallel tool calls in one turn (Write + Read)', async (t) => {
  const cwd = tempDir('tianshu-e2e-cc-par-');
  const marker = `ALPHA-${crypto.randomBytes(8).toString('hex')}`;
  const input = path.join(cwd, 'alpha.txt');
  const output = path.join(cwd, 'beta.txt');
  fs.writeFileSync(input, `alpha says ${marker}\n`);
  const betaContent = 'beta was written in parallel\n';
  const stack = await startStack({ scenario: { turns: [
    { match: 'E2E-CC-PARALLEL', text: 'Doing both at once.', tool_calls: [
      { id: 'call_par_read', name: 'Read', arguments: JSON.stringify({ file_path: input }) },
      { id: 'call_par_write', name: 'Write', arguments: JSON.stringify({ file_path: output, content: betaContent }) },
    ], stream: { chunk_size: 4, interleave_parallel_tools: true } },
    { match: marker, text: 'Both tools ran.' },
    FALLBACK,
  ] } });
  t.after(async () => { await stack.stop(); fs.rmSync(cwd, { recursive: true, force: true }); });

  const run = await runClaude(stack, cwd, 'Read alpha.txt and write beta.txt at the same time. E2E-CC-PARALLEL');
  assertSuccess(run, 'Both tools ran.');
  assert.equal(fs.readFileSync(output, 'utf8'), betaContent);

  const [second] = byTurn(stack, 1);
  assert.ok(second, `the follow-up turn answered\n${run.report()}`);
  const assistant = second.body.messages.findLast((m) => m.role === 'assistant');
  assert.deepEqual(assistant.tool_calls.map((c) => c.function.name), ['Read', 'Write'], run.report());
  const tools = toolMessages(second);
  assert.equal(tools.length, 2, run.report());
  assert.deepEqual(new Set(tools.map((m) => m.id)), new Set(assistant.tool_calls.map((c) => c.id)));
  const readResult = tools.find((m) => m.id === assistant.tool_calls[0].id);
  assert.ok(readResult.text.includes(marker), `the Read result carries the marker: ${readResult.text}`);
});

// Claude Code's default model (no --model) makes it send `role: "system"` entries inside
// `messages` with the anthropic-beta `mid-conversation-system-2026-04-07`; the gateway keeps
// them in place (as OpenAI system messages upstream).
test('claude code with its default model (mid-conversation system messages)', async (t) => {
  const cwd = tempDir('tianshu-e2e-cc-default-');
  const stack = await startStack({ scenario: { turns: [{ match: 'E2E-CC-DEFAULT', text: 'Hi there.' }, FALLBACK] } });
  t.after(async () => { await stack.stop(); fs.rmSync(cwd, { recursive: true, force: true }); });
  const run = await runClaude(stack, cwd, 'Say hi. E2E-CC-DEFAULT', []);
  assertSuccess(run, 'Hi there.');
});

// tool_repair: the upstream writes its tool calls as text, as a self-hosted model served
// without a tool-call parser does (the fake upstream's text_tools mode). With tool_repair in
// the chain Claude Code gets real tool_use blocks and writes the file; without it, it cannot.
// NEEDS the host's ABI 1.4 stream rewriting (event_json … stream_emit).
const REPAIR_CHAIN = { id: 'repair', tiers: ['*'], models: ['claude-*'], routing: { mode: 'passthrough' },
  pre: [{ plugin: 'tool_repair' }], post: [{ plugin: 'tool_repair' }] };

async function writeThroughTextTools(t, chains) {
  const cwd = tempDir('tianshu-e2e-cc-text-tools-');
  const target = path.join(cwd, 'notes.txt');
  const content = 'written through tool_repair\nsecond line\n';
  const stack = await startStack({ chains, scenario: { text_tools: 'hermes', turns: [
    { match: 'E2E-CC-TEXT-TOOLS', text: 'I will create the file.',
      tool_calls: [{ name: 'Write', arguments: JSON.stringify({ file_path: target, content }) }],
      stream: { chunk_size: 5 } },
    { match: target, text: 'Created notes.txt.', stream: { chunk_size: 4 } },
    FALLBACK,
  ] } });
  t.after(async () => { await stack.stop(); fs.rmSync(cwd, { recursive: true, force: true }); });
  const run = await runClaude(stack, cwd, 'Create the file notes.txt with the text I gave you. E2E-CC-TEXT-TOOLS');
  return { run, stack, target, content };
}

test('claude code writes a file through tool_repair when the upstream writes tool calls as text', async (t) => {
  const { run, stack, target, content } = await writeThroughTextTools(t, [REPAIR_CHAIN]);
  assertSuccess(run, 'Created notes.txt.');
  assert.ok(fs.existsSync(target), `notes.txt exists\n${run.report()}`);
  assert.equal(fs.readFileSync(target, 'utf8'), content);
  for (const r of stack.requests()) assert.equal(r.status, 200, run.report());
});

test('without tool_repair, the same text-tools upstream writes no file', async (t) => {
  const { run, target } = await writeThroughTextTools(t, []);
  assertSuccess(run);
  assert.ok(run.json.result.includes('<tool_call>'), run.report());
  assert.ok(!fs.existsSync(target), `notes.txt must not exist\n${run.report()}`);
});
