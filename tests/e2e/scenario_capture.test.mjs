// Captures the requests the real, pinned Claude Code CLI sends in the situations scenario_router
// tells apart, and checks that the router still classifies each one as its fixture says. A new
// CLI version that changes a request's shape shows up here as a failing capture.
//
//   node --test tests/e2e/scenario_capture.test.mjs        (needs npm ci in tests/e2e and a build
//                                                          with the scenario_router_classify tool)
//   TIANSHU_UPDATE_FIXTURES=1 node --test tests/e2e/scenario_capture.test.mjs
//       rewrites tests/strategies/scenario_router/captured/ from this capture (review the diff;
//       expected.json is never written: a new or re-classified request is decided by a person).
//
// Claude Code talks straight to the fake upstream's Anthropic endpoint (lib/claude_capture.mjs):
// what it records is exactly what a gateway receives. Everything stays on 127.0.0.1. Each
// scripted turn has a `label`; a captured request is named `<session>-<label>` after the turn
// that answered it (`-2`, `-3`… when a turn answers several), so names do not depend on timing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { captureSession } from './lib/claude_capture.mjs';
import { SESSIONS } from './lib/capture_sessions.mjs';
import { BUILD_DIR, REPO_DIR } from './lib/stack.mjs';

const execFileP = promisify(execFile);
const ROUTER_TESTS = path.join(REPO_DIR, 'tests', 'strategies', 'scenario_router');
const FIXTURE_DIR = path.join(ROUTER_TESTS, 'captured');
const EXPECTED = path.join(ROUTER_TESTS, 'expected.json');
const CONFIG = path.join(ROUTER_TESTS, 'router_config.json');
const CLASSIFY = path.join(BUILD_DIR, 'tests', 'strategies', 'scenario_router', 'scenario_router_classify');
// Strings longer than this, and every `tools` list, are stored once under captured/shared/ and
// referenced as "$shared:<name>": the 25 KB system prompt and 25 tool schemas are in every request.
const SHARED_MIN = 2048;

// -- fixtures: requests with their big shared parts stored once --

const sha = (text) => crypto.createHash('sha256').update(text).digest('hex').slice(0, 12);

function share(value, shared, key = '') {
  if (typeof value === 'string') {
    if (value.length < SHARED_MIN) return value;
    const name = `${sha(value)}.txt`;
    shared.set(name, value);
    return `$shared:${name}`;
  }
  if (Array.isArray(value)) {
    if (key === 'tools') {
      const text = JSON.stringify(value, null, 1);
      const name = `${sha(text)}.json`;
      shared.set(name, text);
      return `$shared:${name}`;
    }
    return value.map((v) => share(v, shared));
  }
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, share(v, shared, k)]));
  }
  return value;
}

function writeFixtures(dir, fixtures) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(path.join(dir, 'shared'), { recursive: true });
  const shared = new Map();
  for (const [name, fx] of fixtures) {
    const stored = { about: fx.about, headers: fx.headers, body: share(fx.body, shared) };
    fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(stored, null, 1)}\n`);
  }
  for (const [name, text] of shared) fs.writeFileSync(path.join(dir, 'shared', name), text);
}

async function captureAll() {
  const fixtures = new Map();
  const failures = [];
  for (const s of SESSIONS) {
    const { requests, runs } = await captureSession({ scenario: { turns: s.turns }, files: s.files, runs: s.runs });
    runs.forEach((r, i) => { if (r.code !== 0 && !s.runs[i].mayFail) failures.push(`${s.name} run ${i}: exit ${r.code}\n${r.out.slice(0, 2000)}`); });
    const uses = new Map();
    for (const r of requests) {
      const label = r.turn === null ? 'rejected' : s.turns[r.turn].label;
      const n = (uses.get(label) ?? 0) + 1;
      uses.set(label, n);
      const name = `${s.name}-${label}${n > 1 ? `-${n}` : ''}`;
      fixtures.set(name, { about: `${s.name}: the request answered by the turn labelled ${label}`, headers: r.headers, body: r.body });
    }
  }
  return { fixtures, failures };
}

test('the pinned Claude Code CLI still sends requests the router classifies as the fixtures say', async () => {
  assert.ok(fs.existsSync(CLASSIFY), `${CLASSIFY} is missing: build it with ` +
    '`cmake --build <build> --target scenario_router_classify` and set TIANSHU_BUILD_DIR=<build>');
  const { fixtures, failures } = await captureAll();
  assert.deepEqual(failures, [], 'every Claude Code run succeeded');

  const update = process.env.TIANSHU_UPDATE_FIXTURES === '1';
  const dir = update ? FIXTURE_DIR : fs.mkdtempSync(path.join(os.tmpdir(), 'tianshu-capture-fixtures-'));
  try {
    writeFixtures(dir, fixtures);
    const { stdout } = await execFileP(CLASSIFY, [CONFIG, dir], { maxBuffer: 16 << 20 });
    const got = JSON.parse(stdout);
    const expected = JSON.parse(fs.readFileSync(EXPECTED, 'utf8'));
    const diff = [];
    for (const [name, want] of Object.entries(expected)) {
      if (!got[name]) diff.push(`${name}: not sent by this CLI (expected ${want.scenario})`);
      else if (got[name].scenario !== want.scenario) diff.push(`${name}: classified ${got[name].scenario} (${got[name].why}), expected ${want.scenario}`);
    }
    for (const [name, g] of Object.entries(got)) {
      if (!expected[name]) diff.push(`${name}: a new request (classified ${g.scenario}, ${g.why}); add it to expected.json`);
    }
    assert.deepEqual(diff, [], `the capture differs from tests/strategies/scenario_router/expected.json:\n${diff.join('\n')}`);
  } finally {
    if (!update) fs.rmSync(dir, { recursive: true, force: true });
  }
});
