// Starts the whole end-to-end stack for one test file:
//   the strict fake upstream (tests/fake_upstream/fake_upstream.mjs, in this process),
//   a real `tianshu serve` on a fresh temporary store, listening on a free loopback port,
//   one channel `up` (openai_compat) pointing at the fake upstream, mapping claude-* to up-model.
// Everything listens on 127.0.0.1 only. stop() sends SIGTERM and removes the temp dirs.
//
// Env: TIANSHU_BUILD_DIR (default /work/main/build, i.e. <repo>/build) — holds `tianshu`
//      and `plugins/`.

import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(E2E_DIR, '..', '..');
export const BUILD_DIR = path.resolve(process.env.TIANSHU_BUILD_DIR || path.join(REPO_DIR, 'build'));
export const TIANSHU_BIN = path.join(BUILD_DIR, 'tianshu');
export const PLUGINS_DIR = path.join(BUILD_DIR, 'plugins');
export const SCRIPTS_DIR = path.join(REPO_DIR, 'scripts');
export const NODE_MODULES = path.join(E2E_DIR, 'node_modules');

export const UPSTREAM_KEY = 'sk-up';
export const UPSTREAM_MODEL = 'up-model';
export const PROBE_TEXT = '__tianshu_e2e_readiness_probe__';
export const PROBE_ANSWER = 'probe-ok';

const { startFakeUpstream } = await import(
  path.join(REPO_DIR, 'tests', 'fake_upstream', 'fake_upstream.mjs'));

// Fails (throws) with the fix when the npm packages are not installed: CI must not skip.
export function requireNodeModules(...pkgs) {
  for (const p of pkgs) {
    if (!fs.existsSync(path.join(NODE_MODULES, p, 'package.json'))) {
      throw new Error(`tests/e2e: npm package '${p}' is not installed in ${NODE_MODULES}. ` +
        `Run: npm ci --no-audit --no-fund --prefix ${E2E_DIR}`);
    }
  }
}

function requireBuild() {
  for (const f of [TIANSHU_BIN, path.join(PLUGINS_DIR, 'openai_compat.so')]) {
    if (!fs.existsSync(f)) {
      throw new Error(`tests/e2e: ${f} is missing. Build it (cmake --build <build> --target ` +
        `tianshu openai_compat) and set TIANSHU_BUILD_DIR=<build> (now ${BUILD_DIR})`);
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits until `re` matches the accumulated text of a stream; returns the match.
function waitForOutput(child, getText, re, what, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; output so far:\n${getText()}`));
    }, timeoutMs);
    const check = () => {
      const m = getText().match(re);
      if (m) { cleanup(); resolve(m); }
    };
    const onExit = (code, sig) => {
      cleanup();
      reject(new Error(`tianshu exited (code ${code}, signal ${sig}) before ${what}; output:\n${getText()}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout.off('data', check);
      child.off('exit', onExit);
    };
    child.stdout.on('data', check);
    child.on('exit', onExit);
    check();
  });
}

// The readiness probe turn: always present, matched by PROBE_TEXT, never runs out.
function withProbeTurn(scenario) {
  const sc = { api_key: UPSTREAM_KEY, models: [UPSTREAM_MODEL], ...scenario };
  sc.turns = [{ match: PROBE_TEXT, text: PROBE_ANSWER, times: 0 }, ...(scenario.turns || [])];
  return sc;
}

/**
 * startStack({ scenario, maps }) → {
 *   gateway: 'http://127.0.0.1:PORT', apiKey: 'sk-ts-…', upstream (the fake upstream handle),
 *   dataDir, logs(): string, stop()
 * }
 * `scenario` is a fake-upstream scenario object (the probe turn is prepended).
 * `maps` are --map values for the channel (default ['claude-*=up-model']).
 * `chains` are chain objects imported before the readiness probe (default none).
 * `pluginsDir` is the plugins directory of the gateway and its CLI (default the build's).
 */
export async function startStack({ scenario = { turns: [] }, maps = [`claude-*=${UPSTREAM_MODEL}`], chains = [], pluginsDir = PLUGINS_DIR } = {}) {
  requireBuild();
  const upstream = await startFakeUpstream({ scenario: withProbeTurn(scenario), port: 0 });
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tianshu-e2e-data-'));
  let stdout = '';
  let stderr = '';
  let child = null;
  let stopped = false;

  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15000);
      await exited;
      clearTimeout(t);
    }
    await upstream.close().catch(() => {});
    fs.rmSync(dataDir, { recursive: true, force: true });
  };

  try {
    child = spawn(TIANSHU_BIN, [
      'serve', '--data', dataDir, '--listen', '127.0.0.1:0',
      '--plugins-dir', pluginsDir, '--scripts-dir', SCRIPTS_DIR, '--drain-seconds', '2',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    // If this process dies without calling stop() (crash, Ctrl-C), take the gateway with it.
    const killOnExit = () => { try { child.kill('SIGTERM'); } catch { /* already gone */ } };
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const getOut = () => stdout + (stderr ? `\n--- stderr ---\n${stderr}` : '');

    const [, gateway] = await waitForOutput(child, () => stdout,
      /is serving on (http:\/\/127\.0\.0\.1:\d+)/, "'is serving on'", 30000);
    const [, apiKey] = await waitForOutput(child, () => stdout,
      /demo API key:\s+(sk-ts-[A-Za-z0-9]+)/, 'the demo API key', 10000);

    const args = ['channel', 'add', '--data', dataDir, '--name', 'up', '--type', 'openai_compat',
      '--base-url', `${upstream.url}/v1`, '--key', UPSTREAM_KEY, '--models', UPSTREAM_MODEL,
      '--plugins-dir', pluginsDir];
    for (const m of maps) args.push('--map', m);
    try {
      await execFileP(TIANSHU_BIN, args, { timeout: 30000 });
    } catch (e) {
      throw new Error(`tianshu channel add failed: ${e.message}\n${e.stdout}\n${e.stderr}`);
    }

    for (const [i, chain] of chains.entries()) {
      const file = path.join(dataDir, `chain-${i}.json`);
      fs.writeFileSync(file, JSON.stringify(chain));
      try {
        await execFileP(TIANSHU_BIN, ['chain', 'import', file, '--data', dataDir,
          '--plugins-dir', PLUGINS_DIR, '--scripts-dir', SCRIPTS_DIR], { timeout: 30000 });
      } catch (e) {
        throw new Error(`tianshu chain import failed: ${e.message}\n${e.stdout}\n${e.stderr}`);
      }
    }

    // The running server picks the change up within ~1 s: probe until the upstream answers.
    const deadline = Date.now() + 20000;
    let last = '';
    for (;;) {
      try {
        const r = await fetch(`${gateway}/v1/messages`, {
          method: 'POST',
          headers: { 'x-api-key': apiKey, 'content-type': 'application/json',
            'anthropic-version': '2023-06-01' },
          body: JSON.stringify({ model: 'claude-sonnet-4-5', max_tokens: 16,
            messages: [{ role: 'user', content: PROBE_TEXT }] }),
        });
        last = `${r.status} ${await r.text()}`;
        if (r.ok && last.includes(PROBE_ANSWER)) break;
      } catch (e) {
        last = String(e);
      }
      if (Date.now() > deadline) {
        throw new Error(`the gateway never routed claude-* to the fake upstream; last answer: ${last}\n${getOut()}`);
      }
      await sleep(200);
    }
    upstream.reset();

    return {
      gateway, apiKey, upstream, dataDir,
      logs: getOut,
      // Requests the fake upstream received, without the readiness probes.
      requests: () => upstream.requests.filter((r) => !JSON.stringify(r.body ?? '').includes(PROBE_TEXT)),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
