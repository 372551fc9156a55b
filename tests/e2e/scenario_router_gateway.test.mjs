// The real Claude Code CLI through the real gateway with a chain whose pre stage is
// scenario_router: each of Claude Code's requests reaches the upstream with the model its scenario
// is configured for, and the <tianshu-model> tag never leaves the gateway.
//
//   node --test tests/e2e/scenario_router_gateway.test.mjs   (npm ci in tests/e2e; a build with
//   tianshu, openai_compat and scenario_router)
//
// Topology: claude → tianshu serve (chain `router`: pre scenario_router, passthrough) → channel
// `routed` (openai_compat, models m-*) → the fake upstream, which records the model of each
// request. The sessions are the capture's (lib/capture_sessions.mjs), so each upstream request is
// named by the scripted turn that answered it, as in tests/strategies/scenario_router/expected.json.
//
// The host has session state, route_decide, request_header and model_capabilities; the router
// probes each of them (on an older host it sets the model with request_set_model and reads
// subagents from the billing block).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runClaude, sessionDirs } from './lib/claude_capture.mjs';
import { SESSIONS } from './lib/capture_sessions.mjs';
import { startStack, requireNodeModules, TIANSHU_BIN, PLUGINS_DIR, REPO_DIR, UPSTREAM_KEY } from './lib/stack.mjs';

const execFileP = promisify(execFile);
requireNodeModules('@anthropic-ai/claude-code');

const ROUTER_TESTS = path.join(REPO_DIR, 'tests', 'strategies', 'scenario_router');
const CONFIG = JSON.parse(fs.readFileSync(path.join(ROUTER_TESTS, 'router_config.json'), 'utf8'));
const EXPECTED = JSON.parse(fs.readFileSync(path.join(ROUTER_TESTS, 'expected.json'), 'utf8'));
const ROUTED_MODELS = ['m-main', 'm-strong', 'm-agent', 'm-small', 'm-compact', 'm-think', 'm-long',
  'm-vision', 'm-search', 'agent-coder', 'user-pick'];

async function cli(args) {
  try {
    return await execFileP(TIANSHU_BIN, args, { timeout: 30000 });
  } catch (e) {
    throw new Error(`tianshu ${args.slice(0, 2).join(' ')} failed: ${e.message}\n${e.stdout}\n${e.stderr}`);
  }
}

// Adds the channel that serves the m-* models and the chain that runs scenario_router for every
// claude-* request, then waits until the running gateway routes a plain request to m-main.
async function withRouter(stack) {
  await cli(['channel', 'add', '--data', stack.dataDir, '--name', 'routed', '--type', 'openai_compat',
    '--base-url', `${stack.upstream.url}/v1`, '--key', UPSTREAM_KEY, '--models', ROUTED_MODELS.join(','),
    '--plugins-dir', PLUGINS_DIR]);
  const chainFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tianshu-e2e-chain-')), 'router.json');
  fs.writeFileSync(chainFile, JSON.stringify({ id: 'router', tiers: ['*'], models: ['claude-*'],
    priority: 10, routing: { mode: 'passthrough' }, pre: [{ plugin: 'scenario_router', config: CONFIG }] }));
  await cli(['chain', 'import', chainFile, '--data', stack.dataDir, '--plugins-dir', PLUGINS_DIR]);
  fs.rmSync(path.dirname(chainFile), { recursive: true, force: true });
  const deadline = Date.now() + 20000;
  for (;;) {
    const seen = stack.upstream.requests.length;
    const r = await fetch(`${stack.gateway}/v1/messages`, { method: 'POST',
      headers: { 'x-api-key': stack.apiKey, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 16,
        messages: [{ role: 'user', content: '__tianshu_e2e_readiness_probe__' }],
        tools: [{ name: 'Read', input_schema: { type: 'object' } }] }) });
    await r.text();
    if (stack.upstream.requests.slice(seen).some((q) => q.body?.model === 'm-main')) break;
    if (Date.now() > deadline) throw new Error(`the router chain never took effect\n${stack.logs()}`);
    await new Promise((res) => setTimeout(res, 200));
  }
  stack.upstream.reset();
}

// Runs one capture session's CLI runs through the gateway; returns {name → upstream request}.
async function runSession(session) {
  const stack = await startStack({ scenario: { turns: session.turns } });
  const dirs = sessionDirs(session.files);
  try {
    await withRouter(stack);
    for (const run of session.runs) {
      const r = await runClaude(run.args, { cwd: dirs.cwd, home: dirs.home, baseUrl: stack.gateway,
        auth: { ANTHROPIC_AUTH_TOKEN: stack.apiKey }, deadEnd: stack.upstream.url, env: run.env, input: run.input ?? null });
      if (!run.mayFail) assert.equal(r.code, 0, `${session.name}: claude failed\n${r.out}\n${stack.logs()}`);
    }
    const named = {};
    const uses = new Map();
    for (const q of stack.requests()) {
      const label = q.turn === null ? 'rejected' : session.turns[q.turn - 1]?.label; // the probe turn is 0
      const n = (uses.get(label) ?? 0) + 1;
      uses.set(label, n);
      named[`${session.name}-${label}${n > 1 ? `-${n}` : ''}`] = q;
    }
    return { named, logs: stack.logs() };
  } finally {
    dirs.remove();
    await stack.stop();
  }
}

// Every captured session but `default`: through the gateway its role-"system" main request is
// answered (the fake upstream's Anthropic endpoint refused it), so its names differ.
const ROUTED_SESSIONS = SESSIONS.map((s) => s.name).filter((n) => n !== 'default');
// expected.json routes each request on its own. Through the gateway the session state keeps a
// session on its model, so these two differ: a later max-effort turn is no hard reason to switch,
// and nothing says m-main lacks vision (the host knows no capabilities of the m-* models).
const IN_SESSION = { 'sticky-think': 'm-main', 'image-result': 'm-main' };

for (const name of ROUTED_SESSIONS) {
  test(`scenario_router routes the ${name} session's requests by scenario through the gateway`, async () => {
    const { named, logs } = await runSession(SESSIONS.find((s) => s.name === name));
    const names = Object.keys(named).sort();
    const want = Object.keys(EXPECTED).filter((k) => k.startsWith(`${name}-`)).sort();
    assert.deepEqual(names, want, `the upstream received the captured requests\n${logs}`);
    for (const n of names) {
      const model = IN_SESSION[n] ?? EXPECTED[n].model;
      assert.equal(named[n].body.model, model, `${n} (${EXPECTED[n].scenario}) went to ${model}`);
      assert.ok(!JSON.stringify(named[n].body).includes('tianshu-model'), `${n}: the tag never reaches the upstream`);
    }
  });
}

test('the request log line carries the router\'s scenario, model and reason', async () => {
  const { logs } = await runSession(SESSIONS.find((s) => s.name === 'subagent'));
  const lines = logs.split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l))
    .filter((l) => l.requested_model !== undefined && l.route_by === 'scenario_router');
  assert.ok(lines.length > 0, logs);
  for (const l of lines) {
    assert.ok(l.route_scenario && l.route_model && l.route_reason, JSON.stringify(l));
    assert.ok(ROUTED_MODELS.includes(l.route_model), JSON.stringify(l));
  }
  assert.ok(lines.some((l) => l.route_scenario === 'subagent'), JSON.stringify(lines));
});
