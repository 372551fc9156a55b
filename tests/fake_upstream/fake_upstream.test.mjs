// Self-test of the fake upstream. Run: node --test tests/fake_upstream/
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeUpstream } from './fake_upstream.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCRIPT = path.join(HERE, 'fake_upstream.mjs');

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

const OA_HEADERS = { 'content-type': 'application/json', authorization: 'Bearer sk-up' };
const AN_HEADERS = { 'content-type': 'application/json', 'x-api-key': 'sk-up', 'anthropic-version': '2023-06-01' };

async function oa(fu, body, headers = OA_HEADERS) {
  const r = await fetch(`${fu.url}/v1/chat/completions`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, headers: r.headers, text: await r.text() };
}
async function an(fu, body, headers = AN_HEADERS) {
  const r = await fetch(`${fu.url}/anthropic/v1/messages`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: r.status, headers: r.headers, text: await r.text() };
}
const json = (r) => JSON.parse(r.text);

function sse(text) {
  return text.split('\n\n').filter((b) => b.trim()).map((block) => {
    const ev = {};
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) ev.event = line.slice(7);
      else if (line.startsWith('data: ')) ev.data = line.slice(6);
    }
    if (ev.data && ev.data !== '[DONE]') ev.json = JSON.parse(ev.data);
    return ev;
  });
}

// Read a stream until the connection drops; returns {text, error}.
async function readUntilDrop(url, headers, body) {
  const r = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body) });
  const dec = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of r.body) text += dec.decode(chunk, { stream: true });
    return { text, error: null };
  } catch (e) {
    return { text, error: e };
  }
}

function assertOpenAIError(r, status, re, param) {
  assert.equal(r.status, status, r.text);
  const b = json(r);
  assert.ok(b.error, r.text);
  assert.deepEqual(Object.keys(b.error).sort(), ['code', 'message', 'param', 'type']);
  if (status === 400) assert.equal(b.error.type, 'invalid_request_error');
  assert.match(b.error.message, re);
  if (param !== undefined) assert.equal(b.error.param, param);
  return b;
}
function assertAnthropicError(r, status, re, type = 'invalid_request_error') {
  assert.equal(r.status, status, r.text);
  const b = json(r);
  assert.equal(b.type, 'error', r.text);
  assert.equal(b.error.type, type);
  assert.match(b.error.message, re);
  return b;
}

const U = (content) => ({ role: 'user', content });
const oaReq = (messages, extra = {}) => ({ model: 'up-model', messages, ...extra });
const anReq = (messages, extra = {}) => ({ model: 'up-model', max_tokens: 1024, messages, ...extra });
const fnTool = (name, parameters = { type: 'object', properties: {} }) => ({ type: 'function', function: { name, description: 'd', parameters } });

// A server that answers "ok" forever, for validation tests.
const ALWAYS_OK = {
  max_output_tokens: 8192,
  reject_schema_keywords: ['format', 'propertyNames', 'exclusiveMinimum', '$schema'],
  turns: [{ text: 'ok', times: 0 }],
};

// ---------------------------------------------------------------------------
// OpenAI validation
// ---------------------------------------------------------------------------

describe('openai validation', () => {
  let fu;
  before(async () => { fu = await startFakeUpstream({ scenario: ALWAYS_OK }); });
  after(() => fu.close());

  const convo = [
    { role: 'system', content: 'sys' },
    U('do it'),
    { role: 'assistant', content: null, tool_calls: [
      { id: 'call_a', type: 'function', function: { name: 'read', arguments: '{"p":"x"}' } },
      { id: 'call_b', type: 'function', function: { name: 'write', arguments: '{}' } },
    ] },
    { role: 'tool', tool_call_id: 'call_b', content: [{ type: 'text', text: 'written' }] },
    { role: 'tool', tool_call_id: 'call_a', content: 'file body' },
    { role: 'assistant', content: 'done' },
    U([{ type: 'text', text: 'thanks' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }]),
  ];

  test('accepts a valid full request', async () => {
    const r = await oa(fu, oaReq(convo, {
      tools: [fnTool('read'), fnTool('write')], tool_choice: 'auto', parallel_tool_calls: true,
      max_tokens: 100, temperature: 0.5, stream: false, reasoning_effort: 'low', seed: 1, user: 'u',
    }));
    assert.equal(r.status, 200, r.text);
    const b = json(r);
    assert.equal(b.object, 'chat.completion');
    assert.equal(b.choices[0].message.content, 'ok');
    assert.equal(b.choices[0].finish_reason, 'stop');
    assert.equal(b.model, 'up-model');
    assert.ok(b.usage.prompt_tokens > 0 && b.usage.completion_tokens > 0);
  });

  test('401 without or with a wrong key, in OpenAI shape', async () => {
    assertOpenAIError(await oa(fu, oaReq([U('x')]), { 'content-type': 'application/json' }), 401, /API key/);
    const b = assertOpenAIError(await oa(fu, oaReq([U('x')]), { authorization: 'Bearer nope' }), 401, /Incorrect API key/);
    assert.equal(b.error.code, 'invalid_api_key');
  });

  test('rejects unparseable JSON', async () => {
    assertOpenAIError(await oa(fu, '{not json'), 400, /parse the JSON body/);
  });

  test('rejects unknown top-level fields', async () => {
    assertOpenAIError(await oa(fu, oaReq([U('x')], { thinking: { type: 'enabled' } })), 400, /Unrecognized request argument supplied: thinking/, 'thinking');
    assertOpenAIError(await oa(fu, oaReq([U('x')], { top_k: 3 })), 400, /top_k/);
  });

  test('rejects missing model / messages', async () => {
    assertOpenAIError(await oa(fu, { messages: [U('x')] }), 400, /model/, 'model');
    assertOpenAIError(await oa(fu, { model: 'm' }), 400, /messages/, 'messages');
    assertOpenAIError(await oa(fu, { model: 'm', messages: [] }), 400, /empty array/, 'messages');
  });

  test('rejects invalid roles and non-object messages', async () => {
    assertOpenAIError(await oa(fu, oaReq([{ role: 'human', content: 'x' }])), 400, /'human'/, 'messages[0].role');
    assertOpenAIError(await oa(fu, oaReq(['hello'])), 400, /messages\[0\]/);
    assertOpenAIError(await oa(fu, oaReq([{ role: 'user', content: 'x', cache_control: {} }])), 400, /'cache_control' was unexpected/);
  });

  test('rejects an unanswered tool call with the real message', async () => {
    const msgs = [U('go'), { role: 'assistant', content: null, tool_calls: [
      { id: 'call_1', type: 'function', function: { name: 'a', arguments: '{}' } },
      { id: 'call_2', type: 'function', function: { name: 'b', arguments: '{}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: 'r1' }, U('next')];
    const b = assertOpenAIError(await oa(fu, oaReq(msgs)), 400,
      /^An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'\. The following tool_call_ids did not have response messages: call_2$/);
    assert.equal(b.error.param, 'messages.[1].role');
    // unanswered at the very end too
    assertOpenAIError(await oa(fu, oaReq(msgs.slice(0, 2))), 400, /did not have response messages: call_1, call_2/);
  });

  test('accepts a system message between tool results; rejects a tool result after a user message', async () => {
    const calls = { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'a', arguments: '{}' } }] };
    let r = await oa(fu, oaReq([U('go'), calls, { role: 'system', content: 'note' }, { role: 'tool', tool_call_id: 'c1', content: 'r' }]));
    assert.equal(r.status, 200, r.text);
    r = await oa(fu, oaReq([U('go'), calls, { role: 'tool', tool_call_id: 'c1', content: 'r' }, U('u'), { role: 'tool', tool_call_id: 'c1', content: 'again' }]));
    assertOpenAIError(r, 400, /must be a response to a preceeding message with 'tool_calls'/, 'messages[4].tool_call_id');
  });

  test('rejects a tool message whose id matches no call, and duplicates', async () => {
    const calls = { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'a', arguments: '{}' } }] };
    assertOpenAIError(await oa(fu, oaReq([U('go'), calls, { role: 'tool', tool_call_id: 'zzz', content: 'r' }])), 400, /'zzz'/);
    assertOpenAIError(await oa(fu, oaReq([U('go'), { role: 'tool', tool_call_id: 'c1', content: 'r' }])), 400, /preceeding message/);
    assertOpenAIError(await oa(fu, oaReq([U('go'), calls, { role: 'tool', tool_call_id: 'c1', content: 'r' }, { role: 'tool', tool_call_id: 'c1', content: 'r' }])), 400, /duplicate/);
  });

  test('tool messages need string content or text parts', async () => {
    const calls = { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'a', arguments: '{}' } }] };
    assertOpenAIError(await oa(fu, oaReq([U('go'), calls, { role: 'tool', tool_call_id: 'c1', content: { ok: true } }])), 400, /messages\[2\]\.content/);
    assertOpenAIError(await oa(fu, oaReq([U('go'), calls, { role: 'tool', tool_call_id: 'c1', content: [{ type: 'image_url', image_url: { url: 'x' } }] }])), 400, /messages\[2\]\.content\[0\]\.type/);
    assertOpenAIError(await oa(fu, oaReq([U('go'), calls, { role: 'tool', tool_call_id: 'c1' }])), 400, /messages\[2\]\.content/);
    assertOpenAIError(await oa(fu, oaReq([U('go'), calls, { role: 'tool', content: 'x' }])), 400, /tool_call_id/);
  });

  test('assistant tool_calls must be well formed (arguments a string)', async () => {
    const mk = (tc) => oaReq([U('go'), { role: 'assistant', content: null, tool_calls: [tc] }, { role: 'tool', tool_call_id: 'c1', content: 'r' }]);
    assertOpenAIError(await oa(fu, mk({ id: 'c1', type: 'function', function: { name: 'a', arguments: { x: 1 } } })), 400, /function\.arguments': expected a string, but got object/);
    assertOpenAIError(await oa(fu, mk({ id: 'c1', function: { name: 'a', arguments: '{}' } })), 400, /\.type/);
    assertOpenAIError(await oa(fu, mk({ type: 'function', function: { name: 'a', arguments: '{}' } })), 400, /\.id/);
    assertOpenAIError(await oa(fu, oaReq([U('go'), { role: 'assistant' }])), 400, /messages\[1\]\.content/);
  });

  test('tools: type, name pattern, parameters object, duplicates', async () => {
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [{ type: 'custom', function: { name: 'a' } }] })), 400, /tools\[0\]\.type/);
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('bad name!')] })), 400, /tools\[0\]\.function\.name/, 'tools[0].function.name');
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('x'.repeat(65))] })), 400, /pattern/);
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('a', 'oops')] })), 400, /tools\[0\]\.function\.parameters/);
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('a', [])] })), 400, /parameters/);
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('a'), fnTool('a')] })), 400, /Duplicate function name/);
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [{ type: 'function', function: { name: 'a', input_schema: {} } }] })), 400, /tools\[0\]\.function\.input_schema/);
    assert.equal((await oa(fu, oaReq([U('x')], { tools: [{ type: 'function', function: { name: 'no_params' } }] }))).status, 200);
  });

  test('reject_schema_keywords anywhere in parameters, with the path; property names are not keywords', async () => {
    const params = { type: 'object', properties: { format: { type: 'string' }, when: { type: 'object', properties: { at: { type: 'string', format: 'date-time' } } } } };
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('t', params)] })), 400,
      /keyword 'format' is not supported \(at tools\[0\]\.function\.parameters\.properties\.when\.properties\.at\.format\)/,
      'tools[0].function.parameters.properties.when.properties.at.format');
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('t', { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object' })] })), 400, /'\$schema'/);
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('t', { type: 'object', properties: { l: { type: 'array', items: { anyOf: [{ type: 'number', exclusiveMinimum: 0 }] } } } })] })), 400,
      /properties\.l\.items\.anyOf\[0\]\.exclusiveMinimum/);
    const ok = { type: 'object', properties: { format: { type: 'string' }, propertyNames: { type: 'string' } } };
    assert.equal((await oa(fu, oaReq([U('x')], { tools: [fnTool('t', ok)] }))).status, 200);
  });

  test('content parts must be known types', async () => {
    assertOpenAIError(await oa(fu, oaReq([U([{ type: 'image', source: {} }])])), 400, /messages\[0\]\.content\[0\]\.type/);
    assertOpenAIError(await oa(fu, oaReq([U([{ type: 'text' }])])), 400, /messages\[0\]\.content\[0\]\.text/);
    assertOpenAIError(await oa(fu, oaReq([U([{ type: 'image_url', image_url: 'x' }])])), 400, /image_url\.url/);
    assertOpenAIError(await oa(fu, oaReq([{ role: 'system', content: [{ type: 'image_url', image_url: { url: 'x' } }] }])), 400, /'system'/);
    assertOpenAIError(await oa(fu, oaReq([U('x'), { role: 'assistant', content: [{ type: 'tool_use', id: 'x' }] }])), 400, /messages\[1\]\.content\[0\]\.type/);
  });

  test('max_tokens / max_completion_tokens above max_output_tokens', async () => {
    assertOpenAIError(await oa(fu, oaReq([U('x')], { max_tokens: 100000 })), 400, /max_tokens is too large: 100000\. This model supports at most 8192/, 'max_tokens');
    assertOpenAIError(await oa(fu, oaReq([U('x')], { max_completion_tokens: 8193 })), 400, /max_completion_tokens is too large/);
    assert.equal((await oa(fu, oaReq([U('x')], { max_tokens: 8192 }))).status, 200);
  });

  test('stream_options requires stream; tool_choice must name a tool', async () => {
    assertOpenAIError(await oa(fu, oaReq([U('x')], { stream_options: { include_usage: true } })), 400, /'stream_options' parameter is only allowed when 'stream' is enabled/);
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('a')], tool_choice: { type: 'function', function: { name: 'b' } } })), 400, /function 'b'/);
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tool_choice: 'required' })), 400, /tool_choice/);
    assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('a')], tool_choice: 'any' })), 400, /'any'/);
  });
});

describe('openai reject_fields narrows the allow-list', () => {
  let fu;
  before(async () => { fu = await startFakeUpstream({ scenario: { reject_fields: ['stream_options', 'reasoning_effort'], turns: [{ text: 'ok', times: 0 }] } }); });
  after(() => fu.close());
  test('a provider without stream_options / reasoning_effort', async () => {
    assertOpenAIError(await oa(fu, oaReq([U('x')], { stream: true, stream_options: { include_usage: true } })), 400, /Unrecognized request argument supplied: stream_options/);
    assertOpenAIError(await oa(fu, oaReq([U('x')], { reasoning_effort: 'high' })), 400, /reasoning_effort/);
    assert.equal((await oa(fu, oaReq([U('x')], { stream: true }))).status, 200);
  });
});

// ---------------------------------------------------------------------------
// Anthropic validation
// ---------------------------------------------------------------------------

describe('anthropic validation', () => {
  let fu;
  before(async () => { fu = await startFakeUpstream({ scenario: ALWAYS_OK }); });
  after(() => fu.close());

  const tool = (name, input_schema = { type: 'object', properties: {} }) => ({ name, description: 'd', input_schema });
  const useMsg = (...ids) => ({ role: 'assistant', content: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }, { type: 'text', text: 'calling' }, ...ids.map((id) => ({ type: 'tool_use', id, name: 'read', input: { p: 1 } }))] });
  const resultMsg = (...ids) => ({ role: 'user', content: ids.map((id) => ({ type: 'tool_result', tool_use_id: id, content: [{ type: 'text', text: `r-${id}` }] })) });

  test('accepts a valid full request', async () => {
    const r = await an(fu, anReq([U('go'), useMsg('t1', 't2'), resultMsg('t2', 't1'), { role: 'assistant', content: 'done' }, U([{ type: 'text', text: 'thx', cache_control: { type: 'ephemeral' } }])], {
      system: [{ type: 'text', text: 'sys' }], tools: [tool('read')], tool_choice: { type: 'auto' },
      thinking: { type: 'enabled', budget_tokens: 1024 }, max_tokens: 2048, temperature: 1, metadata: { user_id: 'u' }, stop_sequences: ['X'],
    }));
    assert.equal(r.status, 200, r.text);
    const b = json(r);
    assert.equal(b.type, 'message');
    assert.deepEqual(b.content, [{ type: 'text', text: 'ok' }]);
    assert.equal(b.stop_reason, 'end_turn');
  });

  test('401 in Anthropic shape; anthropic-version required', async () => {
    assertAnthropicError(await an(fu, anReq([U('x')]), { 'anthropic-version': '2023-06-01' }), 401, /x-api-key/, 'authentication_error');
    assertAnthropicError(await an(fu, anReq([U('x')]), { 'x-api-key': 'bad', 'anthropic-version': '2023-06-01' }), 401, /invalid x-api-key/, 'authentication_error');
    assertAnthropicError(await an(fu, anReq([U('x')]), { authorization: 'Bearer sk-up', 'anthropic-version': '2023-06-01' }), 401, /x-api-key/, 'authentication_error');
    assertAnthropicError(await an(fu, anReq([U('x')]), { 'x-api-key': 'sk-up' }), 400, /anthropic-version/);
  });

  test('rejects unknown top-level fields and missing max_tokens', async () => {
    assertAnthropicError(await an(fu, anReq([U('x')], { tools_choice: {} })), 400, /^tools_choice: Extra inputs are not permitted$/);
    assertAnthropicError(await an(fu, anReq([U('x')], { stream_options: {} })), 400, /stream_options/);
    assertAnthropicError(await an(fu, { model: 'm', messages: [U('x')] }), 400, /^max_tokens: Field required$/);
    assertAnthropicError(await an(fu, { max_tokens: 5, messages: [U('x')] }), 400, /model/);
  });

  test('max_tokens above max_output_tokens; thinking budget', async () => {
    assertAnthropicError(await an(fu, anReq([U('x')], { max_tokens: 64000 })), 400, /max_tokens: 64000 > 8192/);
    assertAnthropicError(await an(fu, anReq([U('x')], { max_tokens: 1024, thinking: { type: 'enabled', budget_tokens: 1024 } })), 400, /budget_tokens/);
  });

  test('roles and message keys', async () => {
    assertAnthropicError(await an(fu, anReq([{ role: 'system', content: 'x' }])), 400, /messages\.0\.role/);
    assertAnthropicError(await an(fu, anReq([{ role: 'tool', content: 'x' }])), 400, /messages\.0\.role/);
    assertAnthropicError(await an(fu, anReq([{ role: 'user', content: 'x', name: 'n' }])), 400, /messages\.0\.name: Extra inputs/);
    assertAnthropicError(await an(fu, anReq([U(''), { role: 'assistant', content: 'x' }, U('y')])), 400, /messages\.0: all messages must have non-empty content/);
    assertAnthropicError(await an(fu, anReq([U('x'), { role: 'assistant', content: [] }, U('y')])), 400, /messages\.1: all messages must have non-empty content/);
    assert.equal((await an(fu, anReq([U('x'), { role: 'assistant', content: '' }]))).status, 200, 'empty final assistant prefill is allowed');
  });

  test('tool_result must answer a tool_use of the immediately preceding assistant message', async () => {
    assertAnthropicError(await an(fu, anReq([U('go'), useMsg('t1'), { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'zz', content: 'r' }, { type: 'tool_result', tool_use_id: 't1', content: 'r' }] }])), 400,
      /messages\.2\.content\.0: unexpected `tool_use_id` found in `tool_result` blocks: zz/);
    // result two messages later: the use is unanswered
    assertAnthropicError(await an(fu, anReq([U('go'), useMsg('t1'), U('interrupt'), { role: 'assistant', content: 'x' }, resultMsg('t1')])), 400,
      /messages\.1: `tool_use` ids were found without `tool_result` blocks immediately after: t1/);
  });

  test('every tool_use must be answered in the next user message', async () => {
    assertAnthropicError(await an(fu, anReq([U('go'), useMsg('t1', 't2'), resultMsg('t1')])), 400,
      /^messages\.1: `tool_use` ids were found without `tool_result` blocks immediately after: t2\. Each `tool_use` block must have a corresponding `tool_result` block in the next message\.$/);
    assertAnthropicError(await an(fu, anReq([U('go'), useMsg('t1')])), 400, /without `tool_result`.*t1/);
  });

  test('content block types and shapes', async () => {
    assertAnthropicError(await an(fu, anReq([U([{ type: 'image_url', image_url: { url: 'x' } }])])), 400, /messages\.0\.content\.0\.type: Input tag 'image_url'/);
    assertAnthropicError(await an(fu, anReq([U([{ type: 'text' }])])), 400, /messages\.0\.content\.0\.text\.text: Field required/);
    assertAnthropicError(await an(fu, anReq([U([{ type: 'text', text: 'x', extra: 1 }])])), 400, /text\.extra: Extra inputs/);
    assertAnthropicError(await an(fu, anReq([U([{ type: 'tool_use', id: 'a', name: 'b', input: {} }])])), 400, /only allowed in assistant/);
    assertAnthropicError(await an(fu, anReq([U('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 'a', name: 'b', input: '{}' }] }, resultMsg('a')])), 400, /tool_use\.input/);
    assertAnthropicError(await an(fu, anReq([U('go'), useMsg('t1'), { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'json', v: 1 }] }] }])), 400, /tool_result\.content\.0\.type/);
    assertAnthropicError(await an(fu, anReq([U('x'), { role: 'assistant', content: [{ type: 'thinking', thinking: 'x' }] }])), 400, /thinking\.signature: Field required/);
  });

  test('tools: input_schema required and object, names, banned keywords with path', async () => {
    assertAnthropicError(await an(fu, anReq([U('x')], { tools: [{ name: 'a' }] })), 400, /tools\.0\.custom\.input_schema: Field required/);
    assertAnthropicError(await an(fu, anReq([U('x')], { tools: [tool('a', { type: 'string' })] })), 400, /input_schema\.type/);
    assertAnthropicError(await an(fu, anReq([U('x')], { tools: [tool('a b')] })), 400, /tools\.0\.custom\.name/);
    assertAnthropicError(await an(fu, anReq([U('x')], { tools: [{ type: 'function', function: { name: 'a' } }] })), 400, /tools\.0/);
    assertAnthropicError(await an(fu, anReq([U('x')], { tools: [tool('a', { type: 'object', properties: { d: { type: 'string', format: 'date' } } })] })), 400,
      /tools\.0\.custom\.input_schema\.properties\.d\.format: JSON schema keyword 'format'/);
    assertAnthropicError(await an(fu, anReq([U('x')], { tools: [tool('a')], tool_choice: { type: 'tool', name: 'b' } })), 400, /tool_choice/);
    assertAnthropicError(await an(fu, anReq([U('x')], { tools: [tool('a')], tool_choice: 'auto' })), 400, /tool_choice/);
  });
});

// ---------------------------------------------------------------------------
// OpenAI streaming options
// ---------------------------------------------------------------------------

describe('openai streaming', () => {
  const CALLS = [
    { id: 'call_1', name: 'write_file', arguments: '{"path":"a.txt","text":"hi"}' },
    { id: 'call_2', name: 'read_file', arguments: '{"path":"b.txt"}' },
  ];
  const scenario = {
    turns: [
      { match: 'plain', text: 'Hello, world!', stream: { chunk_size: 5 } },
      { match: 'reason', reasoning: 'thinking hard', text: 'answer', stream: { chunk_size: 100 } },
      { match: 'split', tool_calls: CALLS, stream: { chunk_size: 6, split_tool_arguments: true } },
      { match: 'whole', tool_calls: CALLS, stream: { split_tool_arguments: false } },
      { match: 'late', tool_calls: [CALLS[0]], stream: { chunk_size: 10, late_tool_name: true } },
      { match: 'interleave', tool_calls: CALLS, stream: { chunk_size: 8, interleave_parallel_tools: true } },
      { match: 'usage-after', text: 'u', usage: { input_tokens: 11, output_tokens: 7, cache_read_input_tokens: 4 } },
      { match: 'usage-not-asked', text: 'u', usage: { input_tokens: 11, output_tokens: 7 } },
      { match: 'usage-inline', text: 'u', usage: { input_tokens: 11, output_tokens: 7 }, stream: { usage_after_finish: false } },
      { match: 'wrong', tool_calls: [CALLS[0]], stream: { wrong_finish_reason: 'stop' } },
      { match: 'drop', text: 'abcdefghijklmnopqrstuvwxyz', stream: { chunk_size: 2, fail_after_chunks: 3 } },
      { match: 'silence', text: 'late', stream: { silence_ms_before: 300 } },
      { match: 'slow', text: 'abcdef', stream: { chunk_size: 2, delay_ms: 80 } },
      { match: 'midstream-error', text: 'abcdefgh', stream: { chunk_size: 2, error_after_chunks: 2 } },
      { match: 'bursts', text: 'abcdefgh', stream: { chunk_size: 2, events_per_write: 3, delay_ms: 300 } },
      { match: 'burst-drop', text: 'abcdefgh', stream: { chunk_size: 2, events_per_write: 2, fail_after_chunks: 3 } },
    ],
  };
  let fu;
  before(async () => { fu = await startFakeUpstream({ scenario }); });
  after(() => fu.close());

  const stream = async (word, extra = {}) => {
    const r = await oa(fu, oaReq([U(word)], { stream: true, ...extra }));
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /text\/event-stream/);
    const evs = sse(r.text);
    return evs;
  };
  const toolDeltas = (evs) => evs.filter((e) => e.json?.choices?.[0]?.delta?.tool_calls).map((e) => e.json.choices[0].delta.tool_calls[0]);
  const assemble = (deltas) => {
    const out = [];
    for (const d of deltas) {
      out[d.index] ??= { id: undefined, name: undefined, arguments: '' };
      if (d.id) out[d.index].id = d.id;
      if (d.function?.name) out[d.index].name = d.function.name;
      if (d.function?.arguments) out[d.index].arguments += d.function.arguments;
    }
    return out;
  };

  test('text in chunk_size pieces, role first, finish then [DONE]', async () => {
    const evs = await stream('plain');
    assert.equal(evs.at(-1).data, '[DONE]');
    const chunks = evs.slice(0, -1).map((e) => e.json);
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.deepEqual(chunks.slice(1, -1).map((c) => c.choices[0].delta.content), ['Hello', ', wor', 'ld!']);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
    assert.deepEqual(chunks.at(-1).choices[0].delta, {});
    assert.ok(chunks.every((c) => !('usage' in c)), 'no usage keys when not asked');
  });

  test('reasoning_content before content', async () => {
    const evs = await stream('reason');
    const deltas = evs.slice(1, -2).map((e) => e.json.choices[0].delta);
    assert.deepEqual(deltas, [{ reasoning_content: 'thinking hard' }, { content: 'answer' }]);
  });

  test('split_tool_arguments: id+name first, then argument fragments', async () => {
    const evs = await stream('split');
    const d = toolDeltas(evs);
    assert.deepEqual(d[0], { index: 0, id: 'call_1', type: 'function', function: { name: 'write_file', arguments: '' } });
    assert.ok(d.filter((x) => x.index === 0).length > 3);
    assert.ok(d.slice(1).filter((x) => x.index === 0).every((x) => !x.id && x.function.arguments.length <= 6));
    const calls = assemble(d);
    assert.deepEqual(calls.map((c) => [c.id, c.name, JSON.parse(c.arguments)]), [
      ['call_1', 'write_file', { path: 'a.txt', text: 'hi' }], ['call_2', 'read_file', { path: 'b.txt' }]]);
    // sequential: all of index 0 before index 1
    const idx = d.map((x) => x.index);
    assert.deepEqual(idx, [...idx].sort());
    assert.equal(evs.at(-2).json.choices[0].finish_reason, 'tool_calls');
  });

  test('split_tool_arguments false: one delta per call', async () => {
    const d = toolDeltas(await stream('whole'));
    assert.equal(d.length, 2);
    assert.deepEqual(d[1], { index: 1, id: 'call_2', type: 'function', function: { name: 'read_file', arguments: '{"path":"b.txt"}' } });
  });

  test('late_tool_name: arguments before id/name', async () => {
    const d = toolDeltas(await stream('late'));
    assert.equal(d[0].id, undefined);
    assert.equal(d[0].function.name, undefined);
    assert.equal(d[0].function.arguments, '{"path":"a');
    assert.equal(d[1].id, 'call_1');
    assert.equal(d[1].function.name, 'write_file');
    const [c] = assemble(d);
    assert.deepEqual(JSON.parse(c.arguments), { path: 'a.txt', text: 'hi' });
  });

  test('interleave_parallel_tools: fragments alternate by index', async () => {
    const d = toolDeltas(await stream('interleave'));
    assert.deepEqual(d.slice(0, 4).map((x) => x.index), [0, 1, 0, 1]);
    const calls = assemble(d);
    assert.deepEqual(JSON.parse(calls[0].arguments), { path: 'a.txt', text: 'hi' });
    assert.deepEqual(JSON.parse(calls[1].arguments), { path: 'b.txt' });
  });

  test('usage chunk after finish_reason when include_usage was asked', async () => {
    const evs = await stream('usage-after', { stream_options: { include_usage: true } });
    const chunks = evs.slice(0, -1).map((e) => e.json);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, []);
    assert.deepEqual(last.usage, { prompt_tokens: 15, completion_tokens: 7, total_tokens: 22, prompt_tokens_details: { cached_tokens: 4 }, completion_tokens_details: { reasoning_tokens: 0 } });
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'stop');
    assert.ok(chunks.slice(0, -1).every((c) => c.usage === null));
  });

  test('no usage chunk when include_usage was not asked', async () => {
    const evs = await stream('usage-not-asked');
    assert.ok(evs.slice(0, -1).every((e) => e.json.usage === undefined && e.json.choices.length === 1));
  });

  test('usage_after_finish false: usage rides on the finish chunk', async () => {
    const evs = await stream('usage-inline', { stream_options: { include_usage: true } });
    const fin = evs.at(-2).json;
    assert.equal(fin.choices[0].finish_reason, 'stop');
    assert.equal(fin.usage.prompt_tokens, 11);
  });

  test('wrong_finish_reason: says stop after a tool call (also non-streaming)', async () => {
    const evs = await stream('wrong');
    assert.equal(toolDeltas(evs)[0].id, 'call_1');
    assert.equal(evs.at(-2).json.choices[0].finish_reason, 'stop');
  });

  test('fail_after_chunks: connection dropped mid-stream without [DONE]', async () => {
    const { text, error } = await readUntilDrop(`${fu.url}/v1/chat/completions`, OA_HEADERS, oaReq([U('drop')], { stream: true }));
    assert.ok(error, 'reading must fail');
    const evs = sse(text);
    assert.equal(evs.length, 3);
    assert.ok(!text.includes('[DONE]'));
  });

  test('silence_ms_before delays the first byte', async () => {
    const t0 = Date.now();
    const r = await fetch(`${fu.url}/v1/chat/completions`, { method: 'POST', headers: OA_HEADERS, body: JSON.stringify(oaReq([U('silence')], { stream: true })) });
    assert.ok(Date.now() - t0 >= 280, 'headers must come late');
    await r.text();
  });

  test('delay_ms between chunks', async () => {
    const t0 = Date.now();
    const evs = await stream('slow');
    assert.ok(Date.now() - t0 >= 4 * 80, `took ${Date.now() - t0}ms for ${evs.length} events`);
  });

  test('events_per_write: events come in bursts, delay_ms between bursts', async () => {
    // role + 4 text chunks + finish + [DONE] = 7 events in bursts of 3: three bursts.
    const r = await fetch(`${fu.url}/v1/chat/completions`, { method: 'POST', headers: OA_HEADERS, body: JSON.stringify(oaReq([U('bursts')], { stream: true })) });
    const dec = new TextDecoder();
    const bursts = [];  // [arrival ms, text] of reads, reads closer than 150 ms merged
    let last = -1e9;
    for await (const chunk of r.body) {
      const now = Date.now();
      const text = dec.decode(chunk, { stream: true });
      if (now - last < 150) bursts.at(-1)[1] += text;
      else bursts.push([now, text]);
      last = now;
    }
    assert.deepEqual(bursts.map(([, t]) => sse(t).length), [3, 3, 1], JSON.stringify(bursts));
    assert.ok(bursts[2][0] - bursts[0][0] >= 2 * 280, 'bursts must be delay_ms apart');
    const evs = sse(bursts.map(([, t]) => t).join(''));
    assert.equal(evs.map((e) => e.json?.choices?.[0]?.delta?.content ?? '').join(''), 'abcdefgh');
  });

  test('events_per_write with fail_after_chunks: the cut comes after exactly N events', async () => {
    const { text, error } = await readUntilDrop(`${fu.url}/v1/chat/completions`, OA_HEADERS, oaReq([U('burst-drop')], { stream: true }));
    assert.ok(error, 'reading must fail');
    assert.equal(sse(text).length, 3);
  });

  test('error_after_chunks: an in-stream error object', async () => {
    const evs = await stream('midstream-error');
    assert.equal(evs.length, 3);
    assert.equal(evs[2].json.error.type, 'server_error');
  });
});

// ---------------------------------------------------------------------------
// Anthropic streaming and non-streaming
// ---------------------------------------------------------------------------

describe('anthropic answers', () => {
  const scenario = {
    turns: [
      { match: 'full', reasoning: 'let me think', text: 'I will write it.', tool_calls: [{ id: 'toolu_1', name: 'write_file', arguments: '{"path":"a.txt"}' }],
        usage: { input_tokens: 20, output_tokens: 9, cache_read_input_tokens: 3 }, stream: { chunk_size: 6 } },
      { match: 'wrong', tool_calls: [{ id: 'toolu_2', name: 'read', arguments: { p: 1 } }], stream: { wrong_finish_reason: 'stop' } },
      { match: 'drop', text: 'abcdefghijkl', stream: { chunk_size: 2, fail_after_chunks: 4 } },
      { match: 'nonstream', reasoning: 'r', text: 't', tool_calls: [{ id: 'toolu_3', name: 'x', arguments: '{"a":[1]}' }] },
      { match: 'overload', text: 'abcdef', stream: { chunk_size: 2, error_after_chunks: 4 } },
    ],
  };
  let fu;
  before(async () => { fu = await startFakeUpstream({ scenario }); });
  after(() => fu.close());

  test('full SSE event grammar: thinking, text, tool_use, message_delta, message_stop', async () => {
    const r = await an(fu, anReq([U('full')], { stream: true }));
    assert.equal(r.status, 200, r.text);
    const evs = sse(r.text);
    for (const e of evs) assert.equal(e.event, e.json.type);
    const names = evs.map((e) => e.event);
    assert.equal(names[0], 'message_start');
    assert.equal(names[1], 'ping');
    assert.deepEqual(names.slice(-2), ['message_delta', 'message_stop']);
    const start = evs[0].json.message;
    assert.equal(start.role, 'assistant');
    assert.deepEqual(start.content, []);
    assert.equal(start.usage.input_tokens, 20);
    assert.equal(start.usage.cache_read_input_tokens, 3);
    // rebuild blocks from the events
    const blocks = [];
    for (const e of evs) {
      const j = e.json;
      if (j.type === 'content_block_start') { assert.equal(j.index, blocks.length); blocks.push({ ...j.content_block, _json: '' }); }
      if (j.type === 'content_block_delta') {
        const b = blocks[j.index];
        if (j.delta.type === 'text_delta') b.text += j.delta.text;
        else if (j.delta.type === 'thinking_delta') b.thinking += j.delta.thinking;
        else if (j.delta.type === 'signature_delta') b.signature = j.delta.signature;
        else if (j.delta.type === 'input_json_delta') b._json += j.delta.partial_json;
        else assert.fail(`unknown delta ${j.delta.type}`);
      }
    }
    assert.deepEqual(blocks.map((b) => b.type), ['thinking', 'text', 'tool_use']);
    assert.equal(blocks[0].thinking, 'let me think');
    assert.equal(blocks[0].signature, 'sig-fake');
    assert.equal(blocks[1].text, 'I will write it.');
    assert.deepEqual([blocks[2].id, blocks[2].name, JSON.parse(blocks[2]._json)], ['toolu_1', 'write_file', { path: 'a.txt' }]);
    assert.ok(evs.filter((e) => e.json.delta?.type === 'input_json_delta').length > 1, 'arguments in fragments');
    // every start has a stop
    assert.equal(names.filter((n) => n === 'content_block_start').length, names.filter((n) => n === 'content_block_stop').length);
    const md = evs.at(-2).json;
    assert.equal(md.delta.stop_reason, 'tool_use');
    assert.equal(md.usage.output_tokens, 9);
  });

  test('wrong_finish_reason maps stop -> end_turn after a tool_use', async () => {
    const evs = sse((await an(fu, anReq([U('wrong')], { stream: true }))).text);
    assert.ok(evs.some((e) => e.json.content_block?.type === 'tool_use'));
    assert.equal(evs.at(-2).json.delta.stop_reason, 'end_turn');
  });

  test('fail_after_chunks drops the connection before message_stop', async () => {
    const { text, error } = await readUntilDrop(`${fu.url}/anthropic/v1/messages`, AN_HEADERS, anReq([U('drop')], { stream: true }));
    assert.ok(error);
    const evs = sse(text);
    assert.equal(evs.length, 4);
    assert.ok(!evs.some((e) => e.event === 'message_stop'));
  });

  test('error_after_chunks: event: error overloaded_error', async () => {
    const evs = sse((await an(fu, anReq([U('overload')], { stream: true }))).text);
    assert.equal(evs.at(-1).event, 'error');
    assert.deepEqual(evs.at(-1).json, { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
  });

  test('non-streaming message object', async () => {
    const b = json(await an(fu, anReq([U('nonstream')])));
    assert.equal(b.type, 'message');
    assert.match(b.id, /^msg_/);
    assert.deepEqual(b.content, [
      { type: 'thinking', thinking: 'r', signature: 'sig-fake' },
      { type: 'text', text: 't' },
      { type: 'tool_use', id: 'toolu_3', name: 'x', input: { a: [1] } },
    ]);
    assert.equal(b.stop_reason, 'tool_use');
    assert.deepEqual(Object.keys(b.usage).sort(), ['cache_creation_input_tokens', 'cache_read_input_tokens', 'input_tokens', 'output_tokens']);
  });
});

// ---------------------------------------------------------------------------
// Non-streaming OpenAI, error turns, matching, exhaustion, recording
// ---------------------------------------------------------------------------

describe('scripted turns', () => {
  test('non-streaming OpenAI tool call response', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [{ reasoning: 'why', tool_calls: [{ id: 'call_9', name: 'w', arguments: '{"a":1}' }] }] } });
    try {
      const b = json(await oa(fu, oaReq([U('x')])));
      const m = b.choices[0].message;
      assert.equal(m.content, null);
      assert.equal(m.reasoning_content, 'why');
      assert.deepEqual(m.tool_calls, [{ id: 'call_9', type: 'function', function: { name: 'w', arguments: '{"a":1}' } }]);
      assert.equal(b.choices[0].finish_reason, 'tool_calls');
    } finally { await fu.close(); }
  });

  test('error turns in each protocol shape with retry-after', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [
      { error: { status: 429, message: 'slow down', retry_after: 1 } },
      { error: { status: 529, message: 'busy' } },
      { error: { status: 503, body: 'upstream connect error' } },
    ] } });
    try {
      let r = await oa(fu, oaReq([U('x')]));
      assert.equal(r.headers.get('retry-after'), '1');
      assert.deepEqual(json(r), { error: { message: 'slow down', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } });
      r = await an(fu, anReq([U('x')]));
      assertAnthropicError(r, 529, /busy/, 'overloaded_error');
      r = await oa(fu, oaReq([U('x')]));
      assert.equal(r.status, 503);
      assert.equal(r.text, 'upstream connect error');
    } finally { await fu.close(); }
  });

  test('non-streaming fail_after_chunks cuts the body', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [{ text: 'hello there', stream: { fail_after_chunks: 0 } }] } });
    try {
      await assert.rejects(oa(fu, oaReq([U('x')])));
    } finally { await fu.close(); }
  });

  test('parallel requests pick turns by match (last user text / tool result)', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [
      { match: 'alpha', text: 'A' },
      { match: 'RESULT-42', text: 'saw tool result' },
      { match: 'beta', text: 'B', stream: { silence_ms_before: 50 } },
      { text: 'fallback' },
    ] } });
    try {
      const calls = { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'a', arguments: '{}' } }] };
      const [b, t, a, f] = await Promise.all([
        oa(fu, oaReq([U('say beta')])),
        oa(fu, oaReq([U('alpha old'), calls, { role: 'tool', tool_call_id: 'c1', content: 'RESULT-42' }])),
        an(fu, anReq([U('say alpha')])),
        oa(fu, oaReq([U('something else')])),
      ]);
      assert.equal(json(b).choices[0].message.content, 'B');
      assert.equal(json(t).choices[0].message.content, 'saw tool result');
      assert.deepEqual(json(a).content, [{ type: 'text', text: 'A' }]);
      assert.equal(json(f).choices[0].message.content, 'fallback');
    } finally { await fu.close(); }
  });

  test('anthropic tool_result content is matched', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [{ match: 'contents of a.txt', text: 'got it' }] } });
    try {
      const r = await an(fu, anReq([U('read'), { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'read', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'contents of a.txt' }] }] }]));
      assert.deepEqual(json(r).content, [{ type: 'text', text: 'got it' }]);
    } finally { await fu.close(); }
  });

  test('protocol / match_model / times restrict turns', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [
      { protocol: 'anthropic', text: 'for anthropic' },
      { match_model: 'm2', text: 'for m2', times: 2 },
      { text: 'generic' },
    ] } });
    try {
      assert.equal(json(await oa(fu, { model: 'm2', messages: [U('x')] })).choices[0].message.content, 'for m2');
      assert.equal(json(await oa(fu, { model: 'm2', messages: [U('x')] })).choices[0].message.content, 'for m2');
      assert.equal(json(await oa(fu, { model: 'm2', messages: [U('x')] })).choices[0].message.content, 'generic');
      assert.equal(json(await an(fu, anReq([U('x')]))).content[0].text, 'for anthropic');
    } finally { await fu.close(); }
  });

  test('exhaustion answers 500 naming the request number, never hangs', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [{ text: 'one' }] } });
    try {
      assert.equal((await oa(fu, oaReq([U('x')]))).status, 200);
      assertOpenAIError(await oa(fu, oaReq([U('x')], { bogus: 1 })), 400, /bogus/); // rejected requests do not consume turns
      const r = await oa(fu, oaReq([U('x')], { stream: true }));
      assertOpenAIError(r, 500, /^fake upstream: no scripted turn left for request #3$/);
      assertAnthropicError(await an(fu, anReq([U('x')])), 500, /request #4/, 'api_error');
    } finally { await fu.close(); }
  });

  test('GET /v1/models requires auth', async () => {
    const fu = await startFakeUpstream({ scenario: { models: ['a', 'b'], api_key: 'k2', turns: [] } });
    try {
      let r = await fetch(`${fu.url}/v1/models`, { headers: { authorization: 'Bearer k2' } });
      const b = await r.json();
      assert.equal(b.object, 'list');
      assert.deepEqual(b.data.map((m) => m.id), ['a', 'b']);
      r = await fetch(`${fu.url}/v1/models`, { headers: { authorization: 'Bearer sk-up' } });
      assert.equal(r.status, 401);
    } finally { await fu.close(); }
  });
});

describe('recording', () => {
  test('GET /__requests, programmatic requests, /__reset, --record files via programmatic record', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fu-rec-'));
    const fu = await startFakeUpstream({ scenario: { turns: [{ text: 'a', times: 0 }] }, record: dir });
    try {
      await an(fu, anReq([U('go'), { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'r', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'RESULT BODY' }] }]));
      await oa(fu, oaReq([U('x')], { nope: true }));
      const list = await (await fetch(`${fu.url}/__requests`)).json();
      assert.equal(list.length, 2);
      assert.equal(list[0].protocol, 'anthropic');
      assert.equal(list[0].status, 200);
      assert.equal(list[0].body.messages[2].content[0].content, 'RESULT BODY');
      assert.equal(list[0].headers['x-api-key'], undefined);
      assert.equal(list[0].headers['anthropic-version'], '2023-06-01');
      assert.equal(list[1].status, 400);
      assert.match(list[1].error, /nope/);
      assert.equal(list[1].headers.authorization, undefined);
      assert.equal(fu.requests.length, 2);
      const files = fs.readdirSync(dir).sort();
      assert.deepEqual(files, ['request-001.json', 'request-002.json']);
      const rec = JSON.parse(fs.readFileSync(path.join(dir, 'request-001.json'), 'utf8'));
      assert.equal(rec.body.messages[2].content[0].content, 'RESULT BODY');
      const r = await fetch(`${fu.url}/__reset`, { method: 'POST' });
      assert.equal(r.status, 200);
      assert.equal((await (await fetch(`${fu.url}/__requests`)).json()).length, 0);
      assert.equal(fu.requests.length, 0);
    } finally {
      await fu.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CLI', () => {
  test('prints one ready line, serves, records to --record DIR, exits 0 on SIGTERM', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fu-cli-'));
    const scen = path.join(dir, 'scenario.json');
    fs.writeFileSync(scen, JSON.stringify({ turns: [{ text: 'from cli' }] }));
    const rec = path.join(dir, 'rec');
    const child = spawn(process.execPath, [SCRIPT, '--port', '0', '--scenario', scen, '--record', rec], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      const line = await new Promise((resolve, reject) => {
        child.stdout.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out); });
        child.on('exit', (c) => reject(new Error(`exited early ${c}`)));
        setTimeout(() => reject(new Error('no ready line')), 5000);
      });
      assert.match(line, /^fake-upstream listening on http:\/\/127\.0\.0\.1:\d+\n$/);
      const url = line.trim().split(' ').at(-1);
      const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: OA_HEADERS, body: JSON.stringify(oaReq([U('x')])) });
      assert.equal((await r.json()).choices[0].message.content, 'from cli');
      assert.deepEqual(fs.readdirSync(rec), ['request-001.json']);
      const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve({ code, sig })));
      child.kill('SIGTERM');
      assert.deepEqual(await exited, { code: 0, sig: null });
      assert.equal(out, line, 'exactly one stdout line');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SIGTERM while a slow stream is open still exits cleanly', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fu-cli-'));
    const scen = path.join(dir, 'scenario.json');
    fs.writeFileSync(scen, JSON.stringify({ turns: [{ text: 'abcdefgh', stream: { chunk_size: 1, delay_ms: 1000 } }] }));
    const child = spawn(process.execPath, [SCRIPT, '--port', '0', '--scenario', scen], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const url = await new Promise((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out.trim().split(' ').at(-1)); });
        setTimeout(() => reject(new Error('no ready line')), 5000);
      });
      const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: OA_HEADERS, body: JSON.stringify(oaReq([U('x')], { stream: true })) });
      const reader = r.body.getReader();
      await reader.read();
      const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
      const t0 = Date.now();
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      assert.ok(Date.now() - t0 < 1500);
      await reader.read().catch(() => {});
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('usage left out, answers held', () => {
  test('report_usage: false leaves usage out of every answer shape', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [{ text: 'no count here', report_usage: false, times: 0 }] } });
    try {
      assert.equal(json(await oa(fu, oaReq([U('x')]))).usage, undefined);
      const chunks = sse((await oa(fu, oaReq([U('x')], { stream: true, stream_options: { include_usage: true } }))).text);
      assert.ok(chunks.every((c) => !c.json || c.json.usage === undefined), JSON.stringify(chunks));
      assert.equal(json(await an(fu, anReq([U('x')]))).usage, undefined);
      const events = sse((await an(fu, anReq([U('x')], { stream: true }))).text);
      assert.equal(events.find((e) => e.event === 'message_start').json.message.usage, undefined);
      assert.equal(events.find((e) => e.event === 'message_delta').json.usage, undefined);
    } finally { await fu.close(); }
  });

  test('hold_at holds a stream at its end, or a whole answer, until /__release', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [{ text: 'held a while', times: 0, stream: { hold_at: 'end' } }] } });
    const held = async () => (await (await fetch(`${fu.url}/__held`)).json()).held;
    const release = () => fetch(`${fu.url}/__release`, { method: 'POST' });
    try {
      const r = await fetch(`${fu.url}/anthropic/v1/messages`, { method: 'POST', headers: AN_HEADERS, body: JSON.stringify(anReq([U('x')], { stream: true })) });
      const reader = r.body.getReader();
      let text = '';
      while (!text.includes('content_block_stop')) text += new TextDecoder().decode((await reader.read()).value);
      while ((await held()) !== 1) await new Promise((w) => setTimeout(w, 10));
      assert.ok(!text.includes('message_delta'));
      await release();
      for (let c = await reader.read(); !c.done; c = await reader.read()) text += new TextDecoder().decode(c.value);
      assert.ok(text.includes('message_delta') && text.includes('message_stop'));
      const whole = oa(fu, oaReq([U('x')]));
      while ((await held()) !== 1) await new Promise((w) => setTimeout(w, 10));
      await release();
      assert.equal(json(await whole).choices[0].message.content, 'held a while');
      await release();  // kept for the next hold, which passes at once
      assert.equal(json(await oa(fu, oaReq([U('x')]))).choices[0].message.content, 'held a while');
    } finally { await fu.close(); }
  });
});

describe('provider modes', () => {
  const call = (id, name = 'read_file') => ({ id, type: 'function', function: { name, arguments: '{}' } });
  // user, assistant(tool call), tool, [assistant(tool call), tool]: the shape of a tool loop.
  const loop = (first = {}, second = null) => {
    const m = [U('go'), { role: 'assistant', content: null, tool_calls: [call('c1')], ...first }, { role: 'tool', tool_call_id: 'c1', content: 'r1' }];
    if (second) m.push({ role: 'assistant', content: 'more', tool_calls: [call('c2')], ...second }, { role: 'tool', tool_call_id: 'c2', content: 'r2' });
    return m;
  };

  test('an unknown provider mode is refused at start, naming the known ones', async () => {
    await assert.rejects(startFakeUpstream({ scenario: { provider: 'nope' } }), /unknown provider mode "nope".*deepseek, kimi/);
  });

  test('deepseek: max_tokens outside the range is a 400 in DeepSeek\'s words; inside passes', async () => {
    const fu = await startFakeUpstream({ scenario: { provider: 'deepseek', turns: [{ text: 'ok', times: 0 }] } });
    try {
      assertOpenAIError(await oa(fu, oaReq([U('x')], { max_tokens: 8193 })), 400, /^Invalid max_tokens value, the valid range of max_tokens is \[1, 8192\]$/);
      assert.equal((await oa(fu, oaReq([U('x')], { max_tokens: 8192 }))).status, 200);
    } finally { await fu.close(); }
    const wide = await startFakeUpstream({ scenario: { provider: 'deepseek', max_tokens_range: [1, 65536], turns: [{ text: 'ok', times: 0 }] } });
    try {
      assert.equal((await oa(wide, oaReq([U('x')], { max_tokens: 32000 }))).status, 200);
      assertOpenAIError(await oa(wide, oaReq([U('x')], { max_tokens: 65537 })), 400, /\[1, 65536\]/);
    } finally { await wide.close(); }
  });

  test('deepseek thinking mode: every earlier tool turn needs its reasoning_content back', async () => {
    const fu = await startFakeUpstream({ scenario: { provider: 'deepseek', turns: [{ text: 'ok', times: 0 }] } });
    try {
      const msg = /^The `reasoning_content` in the thinking mode must be passed back to the API\.$/;
      assertOpenAIError(await oa(fu, oaReq(loop())), 400, msg);
      assertOpenAIError(await oa(fu, oaReq(loop({ reasoning_content: '' }))), 400, msg);
      // the first turn carries it, the second does not: still refused
      assertOpenAIError(await oa(fu, oaReq(loop({ reasoning_content: 'r' }, {}))), 400, msg);
      assert.equal((await oa(fu, oaReq(loop({ reasoning_content: 'r' }, { reasoning_content: 's' })))).status, 200);
      // a plain text assistant turn needs none
      assert.equal((await oa(fu, oaReq([U('a'), { role: 'assistant', content: 'b' }, U('c')]))).status, 200);
      // thinking disabled by the request: no check
      assert.equal((await oa(fu, oaReq(loop(), { thinking: { type: 'disabled' } }))).status, 200);
      assertOpenAIError(await oa(fu, oaReq([U('x')], { thinking: true })), 400, /Invalid 'thinking'/, 'thinking');
    } finally { await fu.close(); }
  });

  test('deepseek: thinking only for thinking_models, or never with thinking: false', async () => {
    const fu = await startFakeUpstream({ scenario: { provider: 'deepseek', thinking_models: ['deepseek-reasoner'], turns: [{ text: 'ok', times: 0 }] } });
    try {
      assert.equal((await oa(fu, { ...oaReq(loop()), model: 'deepseek-chat' })).status, 200);
      assertOpenAIError(await oa(fu, { ...oaReq(loop()), model: 'deepseek-reasoner' }), 400, /reasoning_content/);
    } finally { await fu.close(); }
    const off = await startFakeUpstream({ scenario: { provider: 'deepseek', thinking: false, turns: [{ text: 'ok', times: 0 }] } });
    try {
      assert.equal((await oa(off, oaReq(loop()))).status, 200);
    } finally { await off.close(); }
  });

  test('without a provider mode the thinking field stays unknown', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [{ text: 'ok', times: 0 }] } });
    try {
      assertOpenAIError(await oa(fu, oaReq([U('x')], { thinking: { type: 'enabled' } })), 400, /Unrecognized request argument supplied: thinking/);
      assert.equal((await oa(fu, oaReq(loop()))).status, 200);
    } finally { await fu.close(); }
  });

  test('kimi: more than 128 tools is a 400; thinking mode names the tool-call message without reasoning', async () => {
    const fu = await startFakeUpstream({ scenario: { provider: 'kimi', turns: [{ text: 'ok', times: 0 }] } });
    try {
      const tools = (n) => Array.from({ length: n }, (_, i) => fnTool(`t${i}`));
      assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: tools(129) })), 400, /^a max of 128 tools can be supported$/);
      assert.equal((await oa(fu, oaReq([U('x')], { tools: tools(128) }))).status, 200);
      assertOpenAIError(await oa(fu, oaReq(loop({ reasoning_content: 'r' }, {}))), 400,
        /^thinking is enabled but reasoning_content is missing in assistant tool call message at index 3$/);
      assert.equal((await oa(fu, oaReq(loop({ reasoning_content: 'r' }, { reasoning_content: 's' })))).status, 200);
      assert.equal((await oa(fu, oaReq(loop(), { thinking: { type: 'disabled' } }))).status, 200);
      // the request was refused before a turn was used, and recorded with its error
      assert.match(fu.requests.find((r) => r.status === 400).error, /max of 128 tools/);
    } finally { await fu.close(); }
  });
});

describe('examples', () => {
  test('examples/tool_roundtrip.json drives a two-turn tool round trip (scenario given as a path)', async () => {
    const fu = await startFakeUpstream({ scenario: path.join(HERE, 'examples', 'tool_roundtrip.json') });
    try {
      const tools = [fnTool('write_file', { type: 'object', properties: { path: { type: 'string' }, content: { type: 'string' } }, required: ['path'] })];
      const evs = sse((await oa(fu, oaReq([U('write a.txt')], { tools, stream: true }))).text);
      const d = evs.filter((e) => e.json?.choices?.[0]?.delta?.tool_calls).map((e) => e.json.choices[0].delta.tool_calls[0]);
      const args = d.map((x) => x.function.arguments ?? '').join('');
      assert.deepEqual(JSON.parse(args), { path: 'a.txt', content: 'hi' });
      const msgs = [U('write a.txt'), { role: 'assistant', content: 'Writing it now.', tool_calls: [{ id: d[0].id, type: 'function', function: { name: 'write_file', arguments: args } }] },
        { role: 'tool', tool_call_id: d[0].id, content: 'wrote 2 bytes' }];
      const r = json(await oa(fu, oaReq(msgs, { tools })));
      assert.equal(r.choices[0].message.content, 'Done: a.txt now says hi.');
      assertOpenAIError(await oa(fu, oaReq([U('x')], { reasoning_effort: 'low' })), 400, /reasoning_effort/);
    } finally { await fu.close(); }
  });
});

describe('text-tools mode', () => {
  const readTool = fnTool('Read', { type: 'object', properties: { file_path: { type: 'string' }, limit: { type: 'integer' } }, required: ['file_path'] });
  const call = { name: 'Read', arguments: { file_path: '/a.txt', limit: 5 } };

  test('hermes (scenario-wide), streamed over OpenAI: the call is text, no tool_calls, finish stop', async () => {
    const fu = await startFakeUpstream({ scenario: { text_tools: 'hermes', turns: [{ text: 'Reading.', tool_calls: [call], stream: { chunk_size: 3 } }] } });
    try {
      const evs = sse((await oa(fu, oaReq([U('read it')], { tools: [readTool], stream: true }))).text);
      const chunks = evs.filter((e) => e.json?.choices?.length).map((e) => e.json.choices[0]);
      const content = chunks.map((c) => c.delta.content ?? '').join('');
      assert.equal(content, 'Reading.\n\n<tool_call>\n{"name": "Read", "arguments": {"file_path":"/a.txt","limit":5}}\n</tool_call>');
      assert.ok(!chunks.some((c) => c.delta.tool_calls));
      assert.equal(chunks.at(-1).finish_reason, 'stop');
    } finally { await fu.close(); }
  });

  test('kimi per turn over Anthropic: a text block only, stop_reason end_turn', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [{ tool_calls: [call, { name: 'Read', arguments: '{"file_path": "/b",}' }], text_tools: 'kimi' }] } });
    try {
      const tools = [{ name: 'Read', description: 'd', input_schema: readTool.function.parameters }];
      const m = json(await an(fu, anReq([U('x')], { tools })));
      assert.deepEqual(m.content.map((b) => b.type), ['text']);
      assert.equal(m.content[0].text, '<|tool_calls_section_begin|>'
        + '<|tool_call_begin|>functions.Read:0<|tool_call_argument_begin|>{"file_path":"/a.txt","limit":5}<|tool_call_end|>'
        + '<|tool_call_begin|>functions.Read:1<|tool_call_argument_begin|>{"file_path": "/b",}<|tool_call_end|>'
        + '<|tool_calls_section_end|>');
      assert.equal(m.stop_reason, 'end_turn');
    } finally { await fu.close(); }
  });

  test('XML styles write each parameter; strings stay bare', async () => {
    const fu = await startFakeUpstream({ scenario: { turns: [
      { tool_calls: [call], text_tools: 'qwen3_coder' },
      { tool_calls: [call], text_tools: 'glm' },
      { tool_calls: [call], text_tools: 'minimax' },
      { tool_calls: [call], text_tools: 'deepseek' },
    ] } });
    try {
      const text = async () => json(await oa(fu, oaReq([U('x')], { tools: [readTool] }))).choices[0].message.content;
      assert.equal(await text(), '<tool_call>\n<function=Read>\n<parameter=file_path>\n/a.txt\n</parameter>\n<parameter=limit>\n5\n</parameter>\n</function>\n</tool_call>');
      assert.equal(await text(), '<tool_call>Read\n<arg_key>file_path</arg_key>\n<arg_value>/a.txt</arg_value>\n<arg_key>limit</arg_key>\n<arg_value>5</arg_value>\n</tool_call>');
      assert.equal(await text(), '<minimax:tool_call>\n<invoke name="Read">\n<parameter name="file_path">/a.txt</parameter>\n<parameter name="limit">5</parameter>\n</invoke>\n</minimax:tool_call>');
      assert.equal(await text(), '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>Read<｜tool▁sep｜>{"file_path":"/a.txt","limit":5}<｜tool▁call▁end｜><｜tool▁calls▁end｜>');
    } finally { await fu.close(); }
  });

  test('the request is still validated strictly, and an unknown style is refused at start', async () => {
    const fu = await startFakeUpstream({ scenario: { text_tools: 'hermes', turns: [{ tool_calls: [call], times: 0 }] } });
    try {
      assertOpenAIError(await oa(fu, oaReq([U('x')], { tools: [fnTool('bad name!')] })), 400, /tools\[0\]\.function\.name/, 'tools[0].function.name');
    } finally { await fu.close(); }
    await assert.rejects(startFakeUpstream({ scenario: { turns: [{ text_tools: 'xml' }] } }), /turns\[0\]\.text_tools must be one of/);
  });
});
