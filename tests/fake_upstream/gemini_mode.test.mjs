// The fake upstream's Gemini mode refuses what Google refuses (run: node --test gemini_mode.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeUpstream } from './fake_upstream.mjs';

let fu;
before(async () => {
  fu = await startFakeUpstream({ scenario: { turns: [
    { protocol: 'gemini', match: 'CALL', times: 0, reasoning: 'think', tool_calls: [{ name: 'f', arguments: { a: 1 } }] },
    { protocol: 'gemini', times: 0, text: 'fine' },
  ] } });
});
after(() => fu.close());

const post = async (model, body, { key = 'sk-up', query = 'alt=sse', method = 'streamGenerateContent' } = {}) => {
  const r = await fetch(`${fu.url}/v1beta/models/${model}:${method}?${query}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { 'x-goog-api-key': key } : {}) }, body: JSON.stringify(body),
  });
  return { status: r.status, text: await r.text() };
};
const user = (text) => ({ role: 'user', parts: [{ text }] });
const chunksOf = (sse) => sse.split(/\r?\n\r?\n/).filter((f) => f.startsWith('data: ')).map((f) => JSON.parse(f.slice(6)));

test('unknown fields, a key in the URL, a wrong key and a missing alt=sse are refused', async () => {
  let r = await post('gemini-2.5-flash', { contents: [user('x')], bogus: 1 });
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.text).error.message, /Unknown name "bogus"/);
  assert.equal(JSON.parse(r.text).error.status, 'INVALID_ARGUMENT');
  r = await post('gemini-2.5-flash', { contents: [{ role: 'user', parts: [{ text: 'x', extra: 1 }] }] });
  assert.match(JSON.parse(r.text).error.message, /Unknown name "extra"/);
  r = await post('gemini-2.5-flash', { contents: [user('x')] }, { query: 'alt=sse&key=sk-up' });
  assert.match(JSON.parse(r.text).error.message, /key came in the URL/);
  r = await post('gemini-2.5-flash', { contents: [user('x')] }, { key: 'nope' });
  assert.equal(r.status, 400);
  r = await post('gemini-2.5-flash', { contents: [user('x')] }, { query: '' });
  assert.match(JSON.parse(r.text).error.message, /alt=sse/);
});

test('a functionCall without its functionResponse is refused', async () => {
  const r = await post('gemini-2.5-flash', { contents: [user('x'), { role: 'model', parts: [{ functionCall: { name: 'f', args: {} } }] }, user('y')] });
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.text).error.message, /number of function response parts/);
});

test('gemini-3: the issued signature must come back on the first call; missing or altered is refused', async () => {
  const first = await post('gemini-3-pro-preview', { contents: [user('CALL')], generationConfig: { thinkingConfig: { includeThoughts: true } } });
  assert.equal(first.status, 200);
  const parts = chunksOf(first.text).flatMap((c) => c.candidates[0].content.parts);
  assert.ok(parts.some((p) => p.thought), 'thought parts when includeThoughts');
  const call = parts.find((p) => p.functionCall);
  assert.match(call.thoughtSignature, /^sig-gemini-/);
  const loop = (sig) => ({ contents: [user('CALL'), { role: 'model', parts: [{ functionCall: call.functionCall, ...(sig ? { thoughtSignature: sig } : {}) }] },
    { role: 'user', parts: [{ functionResponse: { name: 'f', response: { ok: true } } }] }] });
  let r = await post('gemini-3-pro-preview', loop(null));
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.text).error.message, /missing a thought_signature/);
  r = await post('gemini-3-pro-preview', loop(call.thoughtSignature + 'x'));
  assert.match(JSON.parse(r.text).error.message, /Corrupted thought signature/);
  r = await post('gemini-3-pro-preview', loop(call.thoughtSignature));
  assert.equal(r.status, 200, r.text);
  r = await post('gemini-3-pro-preview', loop('skip_thought_signature_validator'), { method: 'generateContent', query: '' });
  assert.equal(r.status, 200, r.text);
  assert.equal(JSON.parse(r.text).candidates[0].content.parts[0].text, 'fine');
  // Older models take a call without a signature.
  r = await post('gemini-2.5-flash', loop(null));
  assert.equal(r.status, 200, r.text);
});
