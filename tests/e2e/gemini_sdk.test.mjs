// The official Gemini SDK (@google/genai) through Tianshu's /v1beta/models/{model}:… routes to
// the strict fake upstream, in two directions:
//   - model "claude-sonnet-4-5": the default channel, an OpenAI Chat upstream;
//   - model "gemini-3-pro-preview": a `gemini` channel, the fake upstream's Gemini mode, which
//     refuses unknown fields, unanswered function calls and a missing or altered
//     thoughtSignature on function calls (a gemini-3 model).
// Covers streamed and whole answers, parallel function calls, thoughts, cached tokens, a
// mid-stream upstream error, and that a ?key= in the URL never reaches the gateway's log.
// Run: node --test tests/e2e/gemini_sdk.test.mjs   (needs `npm ci` in tests/e2e and a build)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startStack, requireNodeModules, TIANSHU_BIN, PLUGINS_DIR, UPSTREAM_KEY } from './lib/stack.mjs';

requireNodeModules('@google/genai');
const { GoogleGenAI } = await import('@google/genai');
const execFileP = promisify(execFile);

const GEMINI_MODEL = 'gemini-3-pro-preview';
const scenario = {
  turns: [
    // OpenAI Chat upstream (the default channel): two parallel calls, reasoning, cached tokens.
    { protocol: 'openai', match: 'G2O-TOOLS', times: 0, reasoning: 'Two lookups at once.',
      tool_calls: [
        { id: 'call_w', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        { id: 'call_t', name: 'get_time', arguments: '{"tz":"Europe/Oslo"}' },
      ],
      usage: { input_tokens: 1000, output_tokens: 30, cache_read_input_tokens: 800 },
      stream: { chunk_size: 3, interleave_parallel_tools: true } },
    { protocol: 'openai', match: '"temp":"-3"', times: 0, text: 'Oslo: -3 and 09:00.' },
    { protocol: 'openai', match: 'G2O-CUT', times: 0, text: 'This answer will be cut short by the upstream.',
      stream: { chunk_size: 4, error_after_chunks: 3 } },
    // Gemini upstream: thoughts, two parallel calls (the first signed), cached tokens.
    { protocol: 'gemini', match: 'G2G-TOOLS', times: 0, reasoning: 'I should call both tools.',
      tool_calls: [
        { name: 'get_weather', arguments: { city: 'Paris' } },
        { name: 'get_time', arguments: { tz: 'Europe/Paris' } },
      ],
      usage: { input_tokens: 200, output_tokens: 20, cache_read_input_tokens: 1000, reasoning_tokens: 7 },
      stream: { chunk_size: 5 } },
    { protocol: 'gemini', match: '"temp":"18"', times: 0, text: 'Paris: 18 degrees at noon.' },
    { protocol: 'gemini', match: 'G2G-CUT', times: 0, text: 'Gemini will fail mid-answer here.',
      stream: { chunk_size: 4, error_after_chunks: 2 } },
    { protocol: 'gemini', match: 'G2G-WHOLE', times: 0, text: 'A whole answer.' },
  ],
};

const tools = [{
  functionDeclarations: [
    { name: 'get_weather', description: 'Weather for a city',
      parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } }, required: ['city'] } },
    { name: 'get_time', description: 'Time in a zone',
      parametersJsonSchema: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] } },
  ],
}];
const thinking = { thinkingConfig: { includeThoughts: true, thinkingBudget: 2048 } };

let stack;
let ai;

before(async () => {
  stack = await startStack({ scenario });
  try {
    await execFileP(TIANSHU_BIN, ['channel', 'add', '--data', stack.dataDir, '--name', 'gem',
      '--type', 'gemini', '--base-url', `${stack.upstream.url}/v1beta`, '--key', UPSTREAM_KEY,
      '--models', GEMINI_MODEL, '--plugins-dir', PLUGINS_DIR], { timeout: 30000 });
  } catch (e) {
    throw new Error(`tianshu channel add (gemini) failed: ${e.message}\n${e.stdout}\n${e.stderr}`);
  }
  ai = new GoogleGenAI({ apiKey: stack.apiKey, httpOptions: { baseUrl: stack.gateway } });
  // The server picks the new channel up within ~1 s.
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      const r = await ai.models.generateContent({ model: GEMINI_MODEL, contents: 'G2G-WHOLE' });
      if (r.text === 'A whole answer.') break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`the gemini channel never answered: ${e.message}\n${stack.logs()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  stack.upstream.reset();
});

after(async () => {
  await stack?.stop();
});

/** Streams one request; returns every part, the last finishReason and usage. */
async function streamParts(model, contents, config) {
  const stream = await ai.models.generateContentStream({ model, contents, config });
  const parts = [];
  let finishReason = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    const c = chunk.candidates?.[0];
    for (const p of c?.content?.parts ?? []) parts.push(p);
    if (c?.finishReason) finishReason = c.finishReason;
    if (chunk.usageMetadata) usage = chunk.usageMetadata;
  }
  return { parts, finishReason, usage, chunks };
}

/** Runs the two-turn tool loop: the SDK's history goes back as it came (signatures included). */
async function toolLoop(model, marker, results) {
  const user = { role: 'user', parts: [{ text: `${marker}: weather and time?` }] };
  const first = await streamParts(model, [user], { tools, ...thinking });
  const calls = first.parts.filter((p) => p.functionCall);
  assert.equal(calls.length, 2, `two parallel calls: ${JSON.stringify(first.parts)}`);
  assert.deepEqual(calls.map((p) => p.functionCall.name), ['get_weather', 'get_time']);
  assert.ok(calls.every((p) => typeof p.functionCall.id === 'string' && p.functionCall.id), 'every call has an id');
  const thoughts = first.parts.filter((p) => p.thought);
  assert.ok(thoughts.length > 0, 'thought parts reach the client');
  const modelTurn = { role: 'model', parts: first.parts };
  const answers = { role: 'user', parts: calls.map((p) => ({ functionResponse: { name: p.functionCall.name, id: p.functionCall.id, response: results[p.functionCall.name] } })) };
  const second = await streamParts(model, [user, modelTurn, answers], { tools, ...thinking });
  return { first, second, calls };
}

test('Gemini SDK -> OpenAI Chat upstream: parallel calls, thoughts, cached tokens, tool loop', async () => {
  const { first, second } = await toolLoop('claude-sonnet-4-5', 'G2O-TOOLS',
    { get_weather: { temp: '-3' }, get_time: { time: '09:00' } });
  assert.equal(first.finishReason, 'STOP');
  assert.deepEqual(first.parts.filter((p) => p.functionCall).map((p) => p.functionCall.args),
    [{ city: 'Oslo' }, { tz: 'Europe/Oslo' }]);
  assert.equal(first.usage.cachedContentTokenCount, 800);
  assert.equal(first.usage.promptTokenCount, 1800); // Gemini counts cached tokens in the prompt
  assert.equal(second.parts.filter((p) => !p.thought).map((p) => p.text).join(''), 'Oslo: -3 and 09:00.');
  // What the OpenAI upstream received: the calls and both results, paired by id.
  const last = stack.requests().filter((r) => r.protocol === 'openai').pop();
  const tool = last.body.messages.filter((m) => m.role === 'tool');
  assert.equal(tool.length, 2);
  const assistant = last.body.messages.find((m) => m.tool_calls);
  assert.deepEqual(tool.map((m) => m.tool_call_id), assistant.tool_calls.map((c) => c.id));
});

test('Gemini SDK -> Gemini upstream (gemini-3): signatures survive the loop, cached tokens, thoughts', async () => {
  const { first, second, calls } = await toolLoop(GEMINI_MODEL, 'G2G-TOOLS',
    { get_weather: { temp: '18' }, get_time: { time: '12:00' } });
  assert.ok(calls[0].thoughtSignature, 'the first call carries the upstream signature');
  assert.equal(first.usage.cachedContentTokenCount, 1000);
  assert.equal(first.usage.promptTokenCount, 1200);
  assert.equal(first.usage.thoughtsTokenCount, 7);
  assert.equal(second.parts.filter((p) => !p.thought).map((p) => p.text).join(''), 'Paris: 18 degrees at noon.');
  const reqs = stack.requests().filter((r) => r.protocol === 'gemini');
  assert.equal(reqs.length, 2);
  for (const r of reqs) {
    assert.equal(r.status, 200, `the strict Gemini mode accepted the request: ${r.error ?? ''}`);
    assert.equal(r.headers['x-goog-api-key'], UPSTREAM_KEY);
    assert.ok(!r.path.includes('key='), `no key in the upstream URL: ${r.path}`);
    assert.match(r.path, /^\/v1beta\/models\/gemini-3-pro-preview:streamGenerateContent\?alt=sse$/);
  }
  // The signature the fake issued came back on the same call (the fake would refuse otherwise).
  const sent = reqs[1].body.contents[1].parts.filter((p) => p.functionCall);
  assert.equal(sent[0].thoughtSignature, calls[0].thoughtSignature);
});

test('a mid-stream upstream error reaches the Gemini client as an error, in both directions', async () => {
  const cases = [['claude-sonnet-4-5', 'G2O-CUT', /had an error while processing/],
    [GEMINI_MODEL, 'G2G-CUT', /The model is overloaded/]];
  for (const [model, marker, said] of cases) {
    let text = '';
    await assert.rejects(async () => {
      const stream = await ai.models.generateContentStream({ model, contents: marker });
      for await (const chunk of stream) text += chunk.text ?? '';
    }, (e) => e.name === 'ApiError' && e.status >= 500 && said.test(e.message), `${model}: the stream must fail with the upstream's words`);
    assert.ok(text.length > 0 && !text.endsWith('.'), `${model}: part of the answer came, then the error (${text})`);
  }
});

test('whole answers, countTokens, and errors in Google\'s shape', async () => {
  const r = await ai.models.generateContent({ model: GEMINI_MODEL, contents: 'G2G-WHOLE' });
  assert.equal(r.text, 'A whole answer.');
  const ct = await ai.models.countTokens({ model: GEMINI_MODEL, contents: 'count me please' });
  assert.ok(ct.totalTokens > 0);
  const bad = await fetch(`${stack.gateway}/v1beta/models/${GEMINI_MODEL}:generateContent`, {
    method: 'POST', headers: { 'x-goog-api-key': stack.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'x' }] }], generationConfig: { seed: 1 } }),
  });
  assert.equal(bad.status, 400);
  const body = await bad.json();
  assert.equal(body.error.status, 'INVALID_ARGUMENT');
  assert.equal(body.error.code, 400);
  assert.match(body.error.message, /generationConfig\.seed/);
  const noSse = await fetch(`${stack.gateway}/v1beta/models/${GEMINI_MODEL}:streamGenerateContent`, {
    method: 'POST', headers: { 'x-goog-api-key': stack.apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ contents: [{ parts: [{ text: 'x' }] }] }),
  });
  assert.equal(noSse.status, 400);
  assert.match((await noSse.json()).error.message, /alt=sse/);
});

test('a ?key= in the URL authenticates but never reaches the gateway log', async () => {
  const before = stack.logs().length;
  const key = stack.apiKey;
  const url = (method, extra = '') => `${stack.gateway}/v1beta/models/${GEMINI_MODEL}:${method}?key=${encodeURIComponent(key)}${extra}`;
  const post = (u, body) => fetch(u, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const ok = await post(url('generateContent'), { contents: [{ role: 'user', parts: [{ text: 'G2G-WHOLE' }] }] });
  assert.equal(ok.status, 200, await ok.clone().text());
  const streamed = await post(url('streamGenerateContent', '&alt=sse'), { contents: [{ parts: [{ text: 'G2G-WHOLE' }] }] });
  assert.equal(streamed.status, 200);
  const text = (await streamed.text()).split('\n').filter((l) => l.startsWith('data: '))
    .map((l) => JSON.parse(l.slice(6)).candidates[0].content.parts?.map((p) => p.text).join('') ?? '').join('');
  assert.equal(text, 'A whole answer.');
  // Errors too: a bad body, an unknown method, a wrong key; and countTokens.
  assert.equal((await post(url('generateContent'), { bogus: 1 })).status, 400);
  assert.equal((await post(url('embedContent'), { contents: [] })).status, 404);
  assert.equal((await post(url('countTokens'), { contents: [{ parts: [{ text: 'x' }] }] })).status, 200);
  const wrong = await post(`${stack.gateway}/v1beta/models/${GEMINI_MODEL}:generateContent?key=${key}x`, { contents: [{ parts: [{ text: 'x' }] }] });
  assert.equal(wrong.status, 401);
  assert.equal((await wrong.json()).error.status, 'UNAUTHENTICATED');
  await new Promise((r) => setTimeout(r, 300));
  const log = stack.logs().slice(before);
  // The log is really there: the request lines name the route with {model}, not the URL.
  assert.match(log, /\/v1beta\/models\/\{model\}:generateContent/);
  assert.ok(!log.includes(key), 'the key must not appear in the gateway log');
  assert.ok(!log.includes('key='), 'no query string in the gateway log');
  // Nor in the upstream's URL.
  for (const r of stack.requests()) assert.ok(!String(r.path).includes(key));
});
