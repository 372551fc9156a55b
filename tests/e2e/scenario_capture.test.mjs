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

const MODEL = ['--model', 'claude-sonnet-4-6'];
const PRINT = ['--output-format', 'json', '--permission-mode', 'acceptEdits'];
const TITLE = { label: 'title', match: 'Write the title in the language', text: '{"title":"Capture"}', times: 0 };
const DONE = { label: 'done', text: 'Done.', times: 0 };
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const call = (id, name, input) => ({ id, name, arguments: input });
const ask = (prompt, extra = []) => ({ args: ['-p', prompt, ...PRINT, ...MODEL, ...extra] });

// A big paste on stdin (claude -p adds it to the prompt): the request is over 60k estimated tokens.
const BIG = Array.from({ length: 1400 }, (_, i) => `line ${i}: ${'lorem ipsum dolor sit amet '.repeat(4)}`).join('\n');

export const SESSIONS = [
  { name: 'plain', runs: [ask('Say hi CAP-PLAIN')],
    turns: [TITLE, { label: 'main', match: 'CAP-PLAIN', text: 'Hi.' }, DONE] },
  { name: 'toolloop', files: { 'notes.txt': 'hello notes\n' }, runs: [ask('Read notes.txt CAP-READ')],
    turns: [TITLE, { label: 'main', match: 'CAP-READ', tool_calls: [call('toolu_read_1', 'Read', { file_path: 'notes.txt' })] },
      { label: 'result', match: 'hello notes', text: 'The notes say hello.' }, DONE] },
  { name: 'subagent', files: { 'notes.txt': 'hello notes\n' }, runs: [ask('Use an agent to read notes.txt CAP-SUB')],
    turns: [TITLE, { label: 'agent', match: 'CAP-AGENT-TASK', text: 'The notes say hello.' },
      { label: 'main', match: 'CAP-SUB', tool_calls: [call('toolu_agent_1', 'Agent', { description: 'Read notes', prompt: 'Read notes.txt and summarise it. CAP-AGENT-TASK', subagent_type: 'Explore' })] },
      { label: 'result', match: 'The notes say hello', text: 'Done.' }, DONE] },
  { name: 'nested', runs: [ask('Use nested agents CAP-NEST')],
    turns: [TITLE, { label: 'inner', match: 'CAP-INNER', text: 'inner done' },
      { label: 'outer', match: 'CAP-OUTER', tool_calls: [call('toolu_inner_1', 'Agent', { description: 'Inner', prompt: 'Inner task CAP-INNER', subagent_type: 'Explore' })] },
      { label: 'outer-result', match: 'inner done', text: 'outer done' },
      { label: 'main', match: 'CAP-NEST', tool_calls: [call('toolu_outer_1', 'Agent', { description: 'Outer', prompt: 'Outer task CAP-OUTER', subagent_type: 'claude' })] },
      { label: 'result', match: 'outer done', text: 'Done.' }, DONE] },
  { name: 'agenttag', files: { 'notes.txt': 'x\n' },
    runs: [ask('Review with the reviewer agent CAP-TAG', ['--agents', JSON.stringify({ reviewer: {
      description: 'Reviews code', prompt: '<tianshu-model>agent-coder</tianshu-model>\nYou review code carefully.' } })])],
    turns: [TITLE, { label: 'agent', match: 'CAP-REVIEW', text: 'Looks fine.' },
      { label: 'main', match: 'CAP-TAG', tool_calls: [call('toolu_review_1', 'Agent', { description: 'Review', prompt: 'Review notes.txt CAP-REVIEW', subagent_type: 'reviewer' })] },
      { label: 'result', match: 'Looks fine', text: 'Done.' }, DONE] },
  { name: 'usertag', runs: [ask('Say hi <tianshu-model>user-pick</tianshu-model>')],
    turns: [TITLE, { label: 'main', text: 'Hi.', times: 0 }] },
  // Claude Code's default model sends role "system" entries inside messages (beta
  // mid-conversation-system); the fake upstream's Anthropic endpoint refuses them with a 400, so
  // the CLI run fails, but its requests are what a gateway receives and are captured all the same.
  { name: 'default', runs: [{ args: ['-p', 'Say hi CAP-DEFAULT', ...PRINT], mayFail: true }],
    turns: [TITLE, { label: 'main', match: 'CAP-DEFAULT', text: 'Hi.' }, DONE] },
  { name: 'websearch', runs: [ask('Search the web for tianshu CAP-WEB', ['--allowedTools', 'WebSearch'])],
    turns: [TITLE, { label: 'search', match: 'Perform a web search', text: 'No results.' },
      { label: 'main', match: 'CAP-WEB', tool_calls: [call('toolu_web_1', 'WebSearch', { query: 'tianshu gateway' })] },
      { label: 'result', match: 'Web search results', text: 'Done.' }, DONE] },
  { name: 'compact', files: { 'notes.txt': 'hello notes\n' },
    runs: [ask('Read notes.txt CAP-C1'), { args: ['-p', 'And then? CAP-C2', '--continue', ...PRINT, ...MODEL] },
      { args: ['-p', '/compact', '--continue', ...PRINT, ...MODEL] },
      { args: ['-p', 'After the summary CAP-C3', '--continue', ...PRINT, ...MODEL] }],
    turns: [TITLE, { label: 'summary', match: 'create a detailed summary', text: '<analysis>a</analysis>\n<summary>The user read notes.txt.</summary>' },
      { label: 'main', match: 'CAP-C1', tool_calls: [call('toolu_c_1', 'Read', { file_path: 'notes.txt' })] },
      { label: 'result', match: 'hello notes', text: 'The notes say hello.' },
      { label: 'second', match: 'CAP-C2', text: 'Nothing more.' },
      { label: 'after', match: 'CAP-C3', text: 'Still here.' }, DONE] },
  { name: 'effort', runs: [ask('Low effort CAP-E', ['--effort', 'low']), ask('ultrathink about this CAP-E'),
    { args: ['-p', 'No thinking CAP-E', ...PRINT, ...MODEL], env: { MAX_THINKING_TOKENS: '0' } },
    ask('Max effort CAP-E', ['--effort', 'max'])],
    turns: [TITLE, { label: 'main', match: 'CAP-E', text: 'OK.', times: 0 }, DONE] },
  { name: 'image', files: { 'pixel.png': PNG }, runs: [ask('Look at pixel.png CAP-IMG')],
    turns: [TITLE, { label: 'main', match: 'CAP-IMG', tool_calls: [call('toolu_img_1', 'Read', { file_path: 'pixel.png' })] },
      { label: 'result', text: 'A single pixel.' }, DONE] },
  { name: 'long', runs: [{ ...ask('Summarise this log CAP-LONG'), input: BIG }],
    turns: [TITLE, { label: 'main', match: 'CAP-LONG', text: 'A long log.' }, DONE] },
  // The same failing call four times: a stall after the third failure (3 in the last 6 calls).
  { name: 'stall', runs: [ask('Run the check CAP-STALL', ['--allowedTools', 'Bash'])],
    turns: [TITLE, { label: 'main', match: 'CAP-STALL', tool_calls: [call('toolu_stall_1', 'Bash', { command: 'exit 3', description: 'Run the check' })] },
      { label: 'fail', tool_calls: [call('toolu_stall_2', 'Bash', { command: 'exit 3', description: 'Run the check' })] },
      { label: 'fail', tool_calls: [call('toolu_stall_3', 'Bash', { command: 'exit 3', description: 'Run the check' })] },
      { label: 'fail', tool_calls: [call('toolu_stall_4', 'Bash', { command: 'exit 3', description: 'Run the check' })] },
      { label: 'fail', text: 'The check keeps failing.' }, DONE] },
];

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
