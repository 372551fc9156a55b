// The real Codex CLI (@openai/codex, node_modules/.bin/codex) through Tianshu's /v1/responses to
// the strict fake upstream, over both upstream kinds (a Chat channel and a Responses channel).
// Run: node --test tests/e2e/codex_cli.test.mjs   (needs `npm ci` in tests/e2e and a build)
//
// How Codex is run: `codex exec --sandbox workspace-write --skip-git-repo-check "<task>"` in a
// temporary working directory, with a temporary CODEX_HOME whose config.toml names one model
// provider: base_url = <gateway>/v1, wire_api = "responses", env_key naming the variable that
// holds the gateway's demo key. stdin is closed (codex exec otherwise waits for more input).
// Codex's side traffic (plugin sync from github.com and chatgpt.com) is sent through the fake
// upstream as an HTTP proxy that refuses CONNECT, so nothing leaves 127.0.0.1; Codex only logs
// the failure. The task itself needs nothing but the gateway.
//
// The scripted upstream answers the task with one exec_command call writing a file, then with a
// closing text once the call's output comes back: the file must exist with the scripted content,
// and the second upstream request must carry the call and its output, paired.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startStack, requireNodeModules, NODE_MODULES, UPSTREAM_KEY, UPSTREAM_MODEL, TIANSHU_BIN,
  PLUGINS_DIR } from './lib/stack.mjs';

requireNodeModules('@openai/codex');
const CODEX_BIN = path.join(NODE_MODULES, '.bin', 'codex');
const CODEX_TIMEOUT_MS = Number(process.env.TIANSHU_E2E_CODEX_TIMEOUT_MS || 120000);
const execFileP = promisify(execFile);
const RESPONSES_MODEL = 'resp-model';
const FILE = 'codex_hello.txt';
const CONTENT = 'written by codex through tianshu';

function tempDir(prefix) {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

async function runCodex(stack, model, cwd, task) {
  const home = tempDir('tianshu-e2e-codex-home-');
  fs.writeFileSync(path.join(home, 'config.toml'), [
    `model = "${model}"`,
    'model_provider = "tianshu"',
    'check_for_update_on_startup = false',
    '[model_providers.tianshu]',
    'name = "Tianshu"',
    `base_url = "${stack.gateway}/v1"`,
    'wire_api = "responses"',
    'env_key = "TIANSHU_E2E_KEY"',
    '',
  ].join('\n'));
  // Codex's side traffic (plugin sync with github.com and chatgpt.com, analytics) goes to the
  // fake upstream as its proxy, which refuses CONNECT: nothing leaves 127.0.0.1.
  const proxy = stack.upstream.url;
  const env = { PATH: process.env.PATH, HOME: home, CODEX_HOME: home, TIANSHU_E2E_KEY: stack.apiKey,
    HTTPS_PROXY: proxy, HTTP_PROXY: proxy, ALL_PROXY: proxy, https_proxy: proxy, http_proxy: proxy,
    NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1' };
  try {
    const child = spawn(CODEX_BIN, ['exec', '--sandbox', 'workspace-write', '--skip-git-repo-check', task],
      { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), CODEX_TIMEOUT_MS);
    const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    return { code, signal, stdout, stderr };
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
}

for (const kind of ['responses', 'chat']) {
  test(`codex exec writes a file through the gateway (${kind} upstream)`, async () => {
    const marker = `CODEX-E2E-${kind.toUpperCase()}`;
    const stack = await startStack({ scenario: { turns: [
      { match: marker, times: 1, stream: { chunk_size: 5 },
        tool_calls: [{ id: 'call_codex_write', name: 'exec_command',
          arguments: JSON.stringify({ cmd: `printf '${CONTENT}\\n' > ${FILE}` }) }] },
      { text: `Done: ${FILE} written.`, times: 0 },
    ] } });
    const work = tempDir('tianshu-e2e-codex-work-');
    try {
      let model = UPSTREAM_MODEL;
      if (kind === 'responses') {
        model = RESPONSES_MODEL;
        await execFileP(TIANSHU_BIN, ['channel', 'add', '--data', stack.dataDir, '--name', 'upr',
          '--type', 'openai_responses', '--base-url', `${stack.upstream.url}/v1`, '--key', UPSTREAM_KEY,
          '--models', RESPONSES_MODEL, '--plugins-dir', PLUGINS_DIR], { timeout: 30000 });
        await new Promise((r) => setTimeout(r, 2500)); // the server reloads within ~1 s
      }
      const run = await runCodex(stack, model, work, `Create ${FILE} in the current directory. ${marker}`);
      const why = `codex exit ${run.code} ${run.signal ?? ''}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr.slice(-4000)}\n` +
        `upstream: ${JSON.stringify(stack.requests().map((r) => [r.path, r.status, r.error]))}`;
      assert.equal(run.code, 0, why);
      assert.equal(fs.readFileSync(path.join(work, FILE), 'utf8'), `${CONTENT}\n`, why);
      assert.match(run.stdout, new RegExp(`Done: ${FILE} written\\.`), why);

      const path_ = kind === 'responses' ? '/v1/responses' : '/v1/chat/completions';
      const seen = stack.requests().filter((r) => r.path === path_ && JSON.stringify(r.body).includes('call_codex_write'));
      assert.ok(seen.length >= 1, why);
      assert.ok(stack.requests().every((r) => r.status === 200), why);
      const body = seen[0].body;
      if (kind === 'responses') {
        const call = body.input.find((i) => i.type === 'function_call');
        const out = body.input.find((i) => i.type === 'function_call_output');
        assert.equal(call.call_id, 'call_codex_write');
        assert.equal(out.call_id, 'call_codex_write');
        assert.equal(body.store, false);
      } else {
        const tool = body.messages.find((m) => m.role === 'tool');
        assert.equal(tool.tool_call_id, 'call_codex_write');
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
      await stack.stop();
    }
  });
}
