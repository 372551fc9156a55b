// The real Gemini CLI (@google/gemini-cli, node_modules/.bin/gemini) through Tianshu's Gemini
// routes to the strict fake upstream's Gemini mode (a gemini-3 model: every function call must
// come back with the thoughtSignature the upstream issued), completing a file-writing task.
// Run: node --test tests/e2e/gemini_cli.test.mjs   (needs `npm ci` in tests/e2e and a build)
//
// How the CLI is run:
//   gemini -p "<task>" --yolo -m <model> --output-format json
//   in a temporary working directory, with a temporary HOME whose .gemini/settings.json selects
//   API-key auth and turns telemetry, usage statistics and update checks off, and an environment
//   holding only PATH, HOME, GOOGLE_GEMINI_BASE_URL=<gateway>, GEMINI_API_KEY=<gateway key>,
//   GEMINI_CLI_TRUST_WORKSPACE=true, and HTTP(S)_PROXY pointing at a local trap that records
//   (and refuses) any request meant for another host: the test asserts it stays empty, so the
//   CLI sends traffic only to 127.0.0.1. The CLI runs on the machine's Node (>= 20 suffices for
//   the pinned version).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startStack, requireNodeModules, NODE_MODULES, TIANSHU_BIN, PLUGINS_DIR, UPSTREAM_KEY } from './lib/stack.mjs';

requireNodeModules('@google/gemini-cli');
const GEMINI_BIN = path.join(NODE_MODULES, '.bin', 'gemini');
const TIMEOUT_MS = Number(process.env.TIANSHU_E2E_GEMINI_TIMEOUT_MS || 120000);
const MODEL = 'gemini-3-pro-preview';
// The CLI may ask for a newer name of the model it was given; the channel serves both.
const MODELS = ['gemini-3-pro-preview', 'gemini-3.1-pro-preview'];
const execFileP = promisify(execFile);

function tempDir(prefix) {
  return fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
}

/** A proxy that records and refuses every request: any traffic not for 127.0.0.1 lands here. */
async function startTrap() {
  const seen = [];
  const server = http.createServer((req, res) => { seen.push(`${req.method} ${req.url}`); res.writeHead(403); res.end(); });
  server.on('connect', (req, socket) => { seen.push(`CONNECT ${req.url}`); socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'); });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((r) => server.close(r)) };
}

test('gemini-cli writes a file through the gateway to a strict Gemini 3 upstream', async () => {
  const cwd = tempDir('tianshu-e2e-gemini-cwd-');
  const home = tempDir('tianshu-e2e-gemini-home-');
  const target = path.join(cwd, 'hello.txt');
  const content = 'written by gemini-cli through tianshu\n';
  const scenario = {
    turns: [
      { protocol: 'gemini', match: 'GEMCLI-WRITE', reasoning: 'The user wants a file; I will call write_file.',
        tool_calls: [{ name: 'write_file', arguments: { file_path: target, content } }],
        usage: { input_tokens: 3000, output_tokens: 40, cache_read_input_tokens: 2048 }, stream: { chunk_size: 16 } },
      { protocol: 'gemini', match: 'write_file', text: 'Done: hello.txt is written.' },
      { protocol: 'gemini', text: 'OK.', times: 0 }, // side requests the CLI may send
    ],
  };
  const stack = await startStack({ scenario });
  const trap = await startTrap();
  try {
    await execFileP(TIANSHU_BIN, ['channel', 'add', '--data', stack.dataDir, '--name', 'gem',
      '--type', 'gemini', '--base-url', `${stack.upstream.url}/v1beta`, '--key', UPSTREAM_KEY,
      '--models', MODELS.join(','), '--plugins-dir', PLUGINS_DIR], { timeout: 30000 });
    // Wait until the gateway serves the new channel.
    const deadline = Date.now() + 20000;
    for (;;) {
      const r = await fetch(`${stack.gateway}/v1beta/models/${MODEL}:countTokens`, {
        method: 'POST', headers: { 'x-goog-api-key': stack.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] }),
      });
      if (r.ok) break;
      if (Date.now() > deadline) throw new Error(`gateway not ready: ${r.status} ${await r.text()}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    await new Promise((res) => setTimeout(res, 1200)); // the channel, not only the route
    stack.upstream.reset();

    fs.mkdirSync(path.join(home, '.gemini'), { recursive: true });
    fs.writeFileSync(path.join(home, '.gemini', 'settings.json'), JSON.stringify({
      security: { auth: { selectedType: 'gemini-api-key' } },
      telemetry: { enabled: false },
      privacy: { usageStatisticsEnabled: false },
      general: { disableAutoUpdate: true, disableUpdateNag: true },
    }));
    const env = {
      PATH: process.env.PATH, HOME: home,
      GOOGLE_GEMINI_BASE_URL: stack.gateway, GEMINI_API_KEY: stack.apiKey,
      GEMINI_CLI_TRUST_WORKSPACE: 'true',
      HTTP_PROXY: trap.url, HTTPS_PROXY: trap.url, http_proxy: trap.url, https_proxy: trap.url,
      NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost',
    };
    const child = spawn(GEMINI_BIN, ['-p', 'GEMCLI-WRITE: create hello.txt in the current directory',
      '--yolo', '-m', MODEL, '--output-format', 'json'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    const [code] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    const reqs = stack.requests().filter((r) => r.protocol === 'gemini');
    const report = () => `gemini exit=${code}\nstdout: ${stdout}\nstderr: ${stderr}\n` +
      `upstream: ${JSON.stringify(reqs.map((r) => ({ n: r.n, status: r.status, turn: r.turn, error: r.error, path: r.path })))}\n` +
      `gateway log:\n${stack.logs().split('\n').filter((l) => l.includes('"msg":"request"')).join('\n')}`;

    assert.equal(code, 0, report());
    const out = JSON.parse(stdout.slice(stdout.indexOf('{')));
    assert.match(out.response, /Done: hello\.txt is written\./, report());
    assert.equal(fs.readFileSync(target, 'utf8'), content, report());
    // The strict Gemini mode accepted every request: the tool turn came back with its signature.
    assert.ok(reqs.length >= 2, report());
    for (const r of reqs) assert.equal(r.status, 200, report());
    const back = reqs.find((r) => r.body.contents.some((c) => c.parts.some((p) => p.functionResponse)));
    assert.ok(back, `the functionResponse turn reached the upstream\n${report()}`);
    const call = back.body.contents.flatMap((c) => c.parts).find((p) => p.functionCall);
    assert.equal(call.functionCall.name, 'write_file');
    assert.match(call.thoughtSignature, /^sig-gemini-/, 'the upstream\'s own signature came back');
    assert.ok(back.body.contents.flatMap((c) => c.parts).some((p) => p.functionResponse?.name === 'write_file'));
    // Cached tokens reached the CLI's own accounting.
    const tokens = Object.values(out.stats.models)[0].tokens;
    assert.equal(tokens.cached, 2048, report());
    // Nothing but 127.0.0.1: the proxy trap saw no request.
    assert.deepEqual(trap.seen, [], 'the CLI tried to reach another host');
  } finally {
    await trap.close();
    await stack.stop();
    fs.rmSync(cwd, { recursive: true, force: true });
    fs.rmSync(home, { recursive: true, force: true });
  }
});
