// Captures the requests the real, pinned Claude Code CLI sends, by pointing it straight at the
// fake upstream's Anthropic endpoint (ANTHROPIC_BASE_URL=<fake>/anthropic): the fake upstream
// records every request with its headers (tests/fake_upstream, "Recording"), so what is captured
// is exactly what a gateway receives from Claude Code. Everything stays on 127.0.0.1.
//
// captureSession({ scenario, files, runs }) starts one fake upstream, runs `claude` once per entry
// of `runs` (in one temporary working directory and HOME, so `--continue` resumes the session
// before), and returns the recorded requests.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_DIR, NODE_MODULES, requireNodeModules } from './stack.mjs';

const { startFakeUpstream } = await import(
  path.join(REPO_DIR, 'tests', 'fake_upstream', 'fake_upstream.mjs'));

export const CLAUDE_BIN = path.join(NODE_MODULES, '.bin', 'claude');
const TIMEOUT_MS = Number(process.env.TIANSHU_E2E_CLAUDE_TIMEOUT_MS || 120000);
export const UPSTREAM_KEY = 'sk-up';
// Placeholders that replace what differs from machine to machine and run to run.
export const CWD_PLACEHOLDER = '/tmp/tianshu-capture-cwd';

const tempDir = (prefix) => fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));

/**
 * runClaude(args, { cwd, home, baseUrl, auth, deadEnd, env, input }) → { code, out }
 * Runs the pinned CLI with an environment holding only PATH, HOME, the base URL, `auth` (e.g.
 * { ANTHROPIC_API_KEY } or { ANTHROPIC_AUTH_TOKEN }) and `env`; `input` is piped to stdin.
 *
 * Offline: without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC (which would also stop the title
 * request the capture needs) the CLI resolves its vendor's API host. HTTPS_PROXY=`deadEnd` (a
 * loopback HTTP server that refuses CONNECT, e.g. the fake upstream) keeps those attempts on
 * 127.0.0.1, where they fail at once; NO_PROXY lets the base URL through directly.
 */
export async function runClaude(args, { cwd, home, baseUrl, auth, deadEnd, env: extra = {}, input = null }) {
  const env = {
    PATH: process.env.PATH, HOME: home, ANTHROPIC_BASE_URL: baseUrl, ...auth,
    DISABLE_TELEMETRY: '1', DISABLE_AUTOUPDATER: '1',
    HTTPS_PROXY: deadEnd, NO_PROXY: '127.0.0.1,localhost', ...extra,
  };
  const child = spawn(CLAUDE_BIN, args, { cwd, env, stdio: [input === null ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== null) child.stdin.end(input);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, out };
}

/** A temporary working directory (with `files`) and HOME for one session; remove() deletes both. */
export function sessionDirs(files = {}) {
  const cwd = tempDir('tianshu-capture-cwd-');
  const home = tempDir('tianshu-capture-home-');
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(cwd, name), content);
  return { cwd, home, remove() { fs.rmSync(cwd, { recursive: true, force: true }); fs.rmSync(home, { recursive: true, force: true }); } };
}

/**
 * captureSession({ scenario, files = {}, runs: [{ args, env, input }] }) → { requests, runs: [{code,out}] }
 * `input` (a string) is piped to the CLI's stdin, which `claude -p` adds to the prompt.
 * `files` are written into the working directory first (Buffer or string values); `scenario` is
 * a fake-upstream scenario (api_key is set). Requests come back in arrival order, sanitized.
 */
export async function captureSession({ scenario, files = {}, runs }) {
  requireNodeModules('@anthropic-ai/claude-code');
  const fu = await startFakeUpstream({ scenario: { api_key: UPSTREAM_KEY, ...scenario }, port: 0 });
  const dirs = sessionDirs(files);
  const { cwd, home } = dirs;
  try {
    const results = [];
    for (const run of runs) {
      results.push(await runClaude(run.args, { cwd, home, baseUrl: `${fu.url}/anthropic`,
        auth: { ANTHROPIC_API_KEY: UPSTREAM_KEY }, deadEnd: fu.url, env: run.env, input: run.input ?? null }));
    }
    const ids = stableIds(fu.requests);
    const requests = fu.requests.map((r) => ({ turn: r.turn, ...sanitize(r, { cwd, home, url: fu.url, ids }) }));
    return { requests, runs: results };
  } finally {
    await fu.close();
    dirs.remove();
  }
}

// Headers a router may read; the rest (user agent details, host, lengths) are machine-specific.
const KEPT_HEADERS = ['anthropic-beta', 'anthropic-version', 'x-app', 'x-claude-code-session-id',
  'x-claude-code-agent-id', 'x-claude-code-parent-agent-id'];

// Session and agent ids are random per run: each becomes a fixed placeholder, numbered in the
// order it first appears, so a re-capture compares equal.
function stableIds(records) {
  const ids = new Map();
  const add = (v, make) => { if (v && !ids.has(v)) ids.set(v, make(ids.size + 1)); };
  for (const r of records) {
    add(r.headers['x-claude-code-session-id'], (n) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`);
    for (const h of ['x-claude-code-parent-agent-id', 'x-claude-code-agent-id']) {
      add(r.headers[h], (n) => `a${String(n).padStart(16, '0')}`);
    }
  }
  return ids;
}

/** The request as a fixture: {headers, body}, with temp paths, ports, ids and dates replaced. */
export function sanitize(rec, { cwd, home, url, ids = new Map() }) {
  const headers = {};
  for (const h of KEPT_HEADERS) if (rec.headers[h] !== undefined) headers[h] = rec.headers[h];
  for (const h of Object.keys(rec.headers).sort()) {
    if (h.startsWith('x-claude-code-') && headers[h] === undefined) headers[h] = rec.headers[h];
  }
  let text = JSON.stringify({ path: rec.path.replace(/^\/anthropic/, ''), headers, body: rec.body });
  const replace = (from, to) => { if (from) text = text.split(from).join(to); };
  replace(cwd, CWD_PLACEHOLDER);
  // Claude Code names its per-project folder after the working directory, '/' and '.' as '-'.
  replace(cwd.replace(/[^a-zA-Z0-9]/g, '-'), CWD_PLACEHOLDER.replace(/[^a-zA-Z0-9]/g, '-'));
  replace(home, '/tmp/tianshu-capture-home');
  replace(url, 'http://127.0.0.1:0');
  replace(os.hostname(), 'capture-host');
  for (const [from, to] of ids) replace(from, to);
  // Per-install and per-run identifiers.
  text = text.replace(/\\"device_id\\":\\"[0-9a-f]{16,}\\"/g, '\\"device_id\\":\\"0000\\"');
  text = text.replace(/Today's date is \d{4}-\d{2}-\d{2}/g, "Today's date is 2026-01-01");
  text = text.replace(/cc_version=(\d+\.\d+\.\d+)\.[0-9a-f]+;/g, 'cc_version=$1.0;');
  text = text.replace(/OS Version: [^\\"]*/g, 'OS Version: Linux 0.0.0');
  text = text.replace(/duration_ms: \d+/g, 'duration_ms: 0');  // a subagent's run time, in its result
  return JSON.parse(text);
}
