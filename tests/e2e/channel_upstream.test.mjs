// `tianshu channel models` and `tianshu channel balance` (and the admin API's
// /channels/{name}/models, /models/sync and /balance, the same service operations) against the
// strict fake upstream: the model list next to what a channel serves, --sync changing the
// channel's models (read back with `channel list --json`), each provider's balance format with
// exact amounts, a channel whose provider offers no balance, a wrong key (the error names the
// channel), and no upstream key in any output.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';

import { startStack, TIANSHU_BIN, PLUGINS_DIR, REPO_DIR, UPSTREAM_KEY } from './lib/stack.mjs';

const { startFakeUpstream } = await import(path.join(REPO_DIR, 'tests', 'fake_upstream', 'fake_upstream.mjs'));

const KEY = 'sk-balance-key-7f3a9c';
const WRONG_KEY = 'sk-wrong-key-55e1d0';

// Every output this test sees, to check that no key is in any of them.
const seen = [];

function cli(args, input) {
  return new Promise((resolve) => {
    const child = execFile(TIANSHU_BIN, args, { timeout: 30000 }, (err, stdout, stderr) => {
      seen.push(stdout, stderr);
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

async function admin(stack, token, method, route) {
  const r = await fetch(`${stack.gateway}/admin/api${route}`, {
    method, headers: { authorization: `Bearer ${token}` },
  });
  const text = await r.text();
  seen.push(text);
  return { status: r.status, body: JSON.parse(text) };
}

test('channel models and balance through the CLI and the admin API', { timeout: 240000 }, async () => {
  const stack = await startStack();
  const fakes = [];
  try {
    const base = ['--data', stack.dataDir, '--plugins-dir', PLUGINS_DIR];
    const add = async (name, provider, fake, suffix, key, extra = []) => {
      const out = await cli(['channel', 'add', ...base, '--name', name, '--provider', provider,
        '--base-url', `${fake.url}${suffix}`, '--key-stdin', ...extra], `${key}\n`);
      assert.equal(out.code, 0, out.stdout + out.stderr);
    };
    const fake = async (scenario) => {
      const f = await startFakeUpstream({ scenario: { api_key: KEY, turns: [], ...scenario }, port: 0 });
      fakes.push(f);
      return f;
    };
    const deepseek = await fake({ models: ['deepseek-chat', 'deepseek-reasoner', 'deepseek-v4'],
      balance: { format: 'deepseek', amount: '110.00' } });
    const moonshot = await fake({ models: ['kimi-k2', 'kimi-k2-thinking'],
      balance: { format: 'moonshot', amount: '49.58' } });
    const silicon = await fake({ balance: { format: 'siliconflow', amount: '88.88' } });
    // 10.3 - 0.1 is 10.200000000000001 in floating point: the exact answer is 10.20.
    const openrouter = await fake({ balance: { format: 'openrouter', credits: '10.3', usage: '0.1' } });
    const openai = await fake({ models: ['gpt-4o'] });
    await add('p-deepseek', 'deepseek', deepseek, '/v1', KEY, ['--models', 'deepseek-chat,old-model']);
    await add('p-moonshot', 'moonshot', moonshot, '/v1', KEY);
    await add('p-silicon', 'siliconflow', silicon, '/v1', KEY);
    await add('p-openrouter', 'openrouter', openrouter, '/api/v1', KEY, ['--models', 'deepseek/deepseek-chat']);
    await add('p-openai', 'openai', openai, '/v1', KEY);
    await add('p-wrong', 'deepseek', deepseek, '/v1', WRONG_KEY);

    const login = /admin login:\s+(\S+) \/ (\S+)/.exec(stack.logs());
    assert.ok(login, `no admin login in the banner:\n${stack.logs()}`);
    const lr = await fetch(`${stack.gateway}/admin/api/login`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: login[1], password: login[2] }),
    });
    assert.equal(lr.status, 201);
    const token = (await lr.json()).token;

    // ---- models: listing, then the admin API answers the same
    const listed = await cli(['channel', 'models', ...base, '--name', 'p-deepseek', '--json']);
    assert.equal(listed.code, 0, listed.stdout + listed.stderr);
    const report = JSON.parse(listed.stdout);
    assert.deepEqual(report.upstream, ['deepseek-chat', 'deepseek-reasoner', 'deepseek-v4']);
    assert.deepEqual(report.served, ['deepseek-chat', 'old-model']);
    assert.deepEqual(report.new, ['deepseek-reasoner', 'deepseek-v4']);
    assert.deepEqual(report.gone, ['old-model']);
    assert.equal(report.synced, false);
    assert.equal(report.url, `${deepseek.url}/v1/models`);
    const viaApi = await admin(stack, token, 'GET', '/channels/p-deepseek/models');
    assert.equal(viaApi.status, 200);
    assert.deepEqual(viaApi.body, report);
    const text = await cli(['channel', 'models', ...base, '--name', 'p-deepseek']);
    assert.match(text.stdout, /new: +deepseek-reasoner, deepseek-v4/);
    assert.match(text.stdout, /gone: +old-model/);

    // ---- --sync (CLI) and POST /models/sync (API) change the channels' models
    const before = JSON.parse((await cli(['channel', 'list', ...base, '--json'])).stdout);
    const modelsOf = (list, name) => list.find((c) => c.name === name).models;
    assert.deepEqual(modelsOf(before, 'p-deepseek'), ['deepseek-chat', 'old-model']);
    const synced = await cli(['channel', 'models', ...base, '--name', 'p-deepseek', '--sync', '--json']);
    assert.equal(synced.code, 0, synced.stdout + synced.stderr);
    assert.equal(JSON.parse(synced.stdout).synced, true);
    const apiSync = await admin(stack, token, 'POST', '/channels/p-moonshot/models/sync');
    assert.equal(apiSync.status, 200, JSON.stringify(apiSync.body));
    assert.equal(apiSync.body.synced, true);
    const after = JSON.parse((await cli(['channel', 'list', ...base, '--json'])).stdout);
    assert.deepEqual(modelsOf(after, 'p-deepseek'), ['deepseek-chat', 'deepseek-reasoner', 'deepseek-v4']);
    assert.deepEqual(modelsOf(after, 'p-moonshot'), ['kimi-k2', 'kimi-k2-thinking']);
    const again = await cli(['channel', 'models', ...base, '--name', 'p-deepseek', '--json']);
    assert.deepEqual(JSON.parse(again.stdout).new, []);
    assert.deepEqual(JSON.parse(again.stdout).gone, []);

    // ---- balance in each provider's format, exact
    const good = ['p-deepseek', 'p-moonshot', 'p-silicon', 'p-openrouter', 'p-openai', 'up'];
    const bal = await cli(['channel', 'balance', ...base, ...good.flatMap((n) => ['--name', n]), '--json']);
    assert.equal(bal.code, 0, bal.stdout + bal.stderr);
    const rows = Object.fromEntries(JSON.parse(bal.stdout).map((r) => [r.channel, r]));
    assert.deepEqual(rows['p-deepseek'].balances, [{ currency: 'CNY', amount: '110.00' }]);
    assert.equal(rows['p-deepseek'].available, true);
    assert.deepEqual(rows['p-moonshot'].balances, [{ currency: 'CNY', amount: '49.58' }]);
    assert.deepEqual(rows['p-silicon'].balances, [{ currency: 'CNY', amount: '88.88' }]);
    assert.deepEqual(rows['p-openrouter'].balances, [{ currency: 'USD', amount: '10.20' }]);
    for (const n of ['p-deepseek', 'p-moonshot', 'p-silicon', 'p-openrouter']) assert.equal(rows[n].ok, true, n);
    for (const n of ['p-openai', 'up']) {
      assert.equal(rows[n].offered, false, n);
      assert.equal(rows[n].error, 'not offered by the provider', n);
    }
    const table = await cli(['channel', 'balance', ...base, '--name', 'p-openrouter', '--name', 'p-openai']);
    assert.equal(table.code, 0, table.stdout + table.stderr);
    assert.match(table.stdout, /p-openrouter +openrouter +10\.20 USD/);
    assert.match(table.stdout, /p-openai +openai +not offered by the provider/);
    const apiBal = await admin(stack, token, 'GET', '/channels/p-moonshot/balance');
    assert.equal(apiBal.status, 200);
    assert.deepEqual(apiBal.body, rows['p-moonshot']);

    // ---- a wrong key: the error names the channel and the fix; the exit code says it failed
    const wrong = await cli(['channel', 'balance', ...base, '--name', 'p-wrong']);
    assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
    assert.match(wrong.stderr, /channel 'p-wrong'.*HTTP 401.*channel edit --name p-wrong/);
    const wrongApi = await admin(stack, token, 'GET', '/channels/p-wrong/balance');
    assert.equal(wrongApi.body.ok, false);
    assert.match(wrongApi.body.error, /p-wrong/);
    const wrongModels = await cli(['channel', 'models', ...base, '--name', 'p-wrong']);
    assert.equal(wrongModels.code, 1);
    assert.match(wrongModels.stderr, /channel 'p-wrong'.*401/);
    // All channels: every row, and exit 1 because one failed.
    const all = await cli(['channel', 'balance', ...base, '--json']);
    assert.equal(all.code, 1);
    const everyChannel = JSON.parse((await cli(['channel', 'list', ...base, '--json'])).stdout);
    const allRows = JSON.parse(all.stdout);
    assert.deepEqual(allRows.map((r) => r.channel).sort(), everyChannel.map((c) => c.name).sort());
    assert.equal(allRows.find((r) => r.channel === 'p-wrong').ok, false);
    assert.equal(allRows.filter((r) => r.ok).length, 4);
    const unknown = await cli(['channel', 'balance', ...base, '--name', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /nope/);

    // ---- no upstream key in any output
    for (const out of seen) {
      for (const k of [KEY, WRONG_KEY, UPSTREAM_KEY]) {
        assert.ok(!out.includes(k), `a key is in an output:\n${out}`);
      }
      assert.ok(!out.includes(WRONG_KEY.slice(0, 8)), `part of a key is in an output:\n${out}`);
    }
  } finally {
    for (const f of fakes) await f.close().catch(() => {});
    await stack.stop();
  }
});
