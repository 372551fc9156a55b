// The official `openai` SDK speaking the Responses API (POST /v1/responses) through Tianshu to
// the strict fake upstream, over both upstream kinds: an OpenAI Chat channel (openai_compat)
// and an OpenAI Responses channel (openai_responses, the fake's strict Responses mode).
// Covers streamed and whole answers, parallel tool calls and their results sent back,
// reasoning, cache usage (cached_tokens) and a mid-stream upstream error.
// Run: node --test tests/e2e/responses.test.mjs   (needs `npm ci` in tests/e2e and a build)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startStack, requireNodeModules, UPSTREAM_KEY, UPSTREAM_MODEL, PROBE_TEXT, PROBE_ANSWER,
  TIANSHU_BIN, PLUGINS_DIR } from './lib/stack.mjs';

requireNodeModules('openai');
const { default: OpenAI } = await import('openai');
const execFileP = promisify(execFile);

const RESPONSES_MODEL = 'resp-model';
const UPSTREAMS = [
  { kind: 'chat', model: UPSTREAM_MODEL, path: '/v1/chat/completions' },
  { kind: 'responses', model: RESPONSES_MODEL, path: '/v1/responses' },
];

const scenario = {
  max_output_tokens: 8192,
  turns: [
    { match: 'E2E-R-TEXT', text: 'Plain Responses hello, 世界 ✓.', times: 0, stream: { chunk_size: 3 } },
    { match: 'E2E-R-TOOLS', times: 0,
      tool_calls: [
        { id: 'call_w', name: 'get_weather', arguments: '{"city":"Oslo","units":"celsius"}' },
        { id: 'call_t', name: 'get_time', arguments: '{"tz":"Europe/Oslo"}' },
      ],
      stream: { chunk_size: 3 } },
    { match: 'sunny, 21 degrees', text: 'It is sunny in Oslo at 14:05.', times: 0 },
    { match: 'E2E-R-REASON', reasoning: 'The user wants a haiku; keep it short.', text: 'Autumn wind blows.',
      times: 0, usage: { input_tokens: 30, output_tokens: 25, cache_read_input_tokens: 70, reasoning_tokens: 11 },
      stream: { chunk_size: 5 } },
    { match: 'E2E-R-FAIL', text: 'This answer will be cut off by an upstream failure halfway.', times: 0,
      stream: { chunk_size: 4, error_after_chunks: 5, error_message: 'upstream exploded mid-stream' } },
  ],
};

const tools = [
  { type: 'function', name: 'get_weather', description: 'weather', strict: false,
    parameters: { type: 'object', properties: { city: { type: 'string' }, units: { type: 'string' } }, required: ['city'] } },
  { type: 'function', name: 'get_time', description: 'time', strict: false,
    parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] } },
];

let stack;
let openai;

before(async () => {
  stack = await startStack({ scenario });
  // A second channel of the other upstream kind: the fake upstream's Responses mode.
  await execFileP(TIANSHU_BIN, ['channel', 'add', '--data', stack.dataDir, '--name', 'upr',
    '--type', 'openai_responses', '--base-url', `${stack.upstream.url}/v1`, '--key', UPSTREAM_KEY,
    '--models', RESPONSES_MODEL, '--plugins-dir', PLUGINS_DIR], { timeout: 30000 });
  openai = new OpenAI({ baseURL: `${stack.gateway}/v1`, apiKey: stack.apiKey, maxRetries: 0, timeout: 30000 });
  const deadline = Date.now() + 20000;
  for (;;) {
    try {
      const r = await openai.responses.create({ model: RESPONSES_MODEL, input: PROBE_TEXT });
      if (r.output_text === PROBE_ANSWER) break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`the responses channel never answered: ${e}\n${stack.logs()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  stack.upstream.reset();
});

after(async () => {
  await stack?.stop();
});

// Upstream requests (of one kind) whose body mentions `marker`.
function upstreamRequests(kind, marker) {
  const path = UPSTREAMS.find((u) => u.kind === kind).path;
  return stack.requests().filter((r) => r.path === path && JSON.stringify(r.body ?? '').includes(marker));
}

// Collects a raw event stream: checks sequence numbers and returns the events.
async function collect(stream) {
  const events = [];
  for await (const ev of stream) events.push(ev);
  events.forEach((ev, i) => assert.equal(ev.sequence_number, i, `sequence_number of event ${i} (${ev.type})`));
  return events;
}

for (const up of UPSTREAMS) {
  test(`responses via ${up.kind} upstream: whole and streamed text agree`, async () => {
    const whole = await openai.responses.create({ model: up.model, input: 'say hello E2E-R-TEXT',
      instructions: 'Be friendly.', max_output_tokens: 300 });
    assert.equal(whole.object, 'response');
    assert.match(whole.id, /^resp_/);
    assert.equal(whole.status, 'completed');
    assert.equal(whole.output_text, 'Plain Responses hello, 世界 ✓.');
    assert.ok(whole.usage.output_tokens > 0);

    const events = await collect(await openai.responses.create({ model: up.model,
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'say hello E2E-R-TEXT' }] }], stream: true }));
    const types = events.map((e) => e.type);
    assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress',
      'response.output_item.added', 'response.content_part.added']);
    assert.ok(types.filter((t) => t === 'response.output_text.delta').length > 2, 'several text deltas');
    assert.deepEqual(types.slice(-4), ['response.output_text.done', 'response.content_part.done',
      'response.output_item.done', 'response.completed']);
    const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
    assert.equal(text, whole.output_text);
    assert.equal(events.at(-1).response.output[0].content[0].text, whole.output_text);

    // The upstream got the instructions as its own protocol's system prompt.
    const seen = upstreamRequests(up.kind, 'E2E-R-TEXT')[0].body;
    if (up.kind === 'chat') assert.deepEqual(seen.messages[0], { role: 'system', content: 'Be friendly.' });
    else assert.equal(seen.instructions, 'Be friendly.');
  });

  test(`responses via ${up.kind} upstream: parallel tool calls streamed, results sent back`, async () => {
    const params = { model: up.model, tools, input: [{ role: 'user', content: 'weather and time in Oslo E2E-R-TOOLS' }] };
    // The SDK's stream helper rebuilds the response from the events and refuses inconsistent ones.
    const runner = openai.responses.stream(params);
    const done = [];
    runner.on('response.output_item.done', (ev) => done.push(ev.item));
    const final = await runner.finalResponse();
    const calls = final.output.filter((o) => o.type === 'function_call');
    assert.equal(calls.length, 2);
    assert.deepEqual(calls.map((c) => c.name), ['get_weather', 'get_time']);
    assert.deepEqual(JSON.parse(calls[0].arguments), { city: 'Oslo', units: 'celsius' });
    assert.deepEqual(JSON.parse(calls[1].arguments), { tz: 'Europe/Oslo' });
    assert.ok(calls[0].call_id && calls[1].call_id && calls[0].call_id !== calls[1].call_id);
    // Codex reads each finished item from response.output_item.done alone.
    assert.deepEqual(done.filter((i) => i.type === 'function_call').map((i) => [i.call_id, i.arguments]),
      calls.map((c) => [c.call_id, c.arguments]));

    const whole = await openai.responses.create(params);
    assert.deepEqual(whole.output.filter((o) => o.type === 'function_call').map((c) => [c.name, JSON.parse(c.arguments)]),
      calls.map((c) => [c.name, JSON.parse(c.arguments)]));

    const answer = await openai.responses.create({ ...params, input: [
      ...params.input,
      ...calls.map(({ type, call_id, name, arguments: args }) => ({ type, call_id, name, arguments: args })),
      { type: 'function_call_output', call_id: calls[0].call_id, output: 'sunny, 21 degrees' },
      { type: 'function_call_output', call_id: calls[1].call_id, output: '14:05' },
    ] });
    assert.equal(answer.output_text, 'It is sunny in Oslo at 14:05.');
    const seen = upstreamRequests(up.kind, '14:05');
    assert.equal(seen.length, 1);
    if (up.kind === 'chat') {
      const toolMsgs = seen[0].body.messages.filter((m) => m.role === 'tool');
      assert.deepEqual(toolMsgs.map((m) => m.tool_call_id), calls.map((c) => c.call_id));
    } else {
      const outs = seen[0].body.input.filter((i) => i.type === 'function_call_output');
      assert.deepEqual(outs.map((o) => o.call_id), calls.map((c) => c.call_id));
      assert.equal(seen[0].body.store, false);
    }
  });

  test(`responses via ${up.kind} upstream: reasoning and cached tokens`, async () => {
    const params = { model: up.model, input: 'a haiku please E2E-R-REASON', reasoning: { effort: 'low', summary: 'auto' } };
    for (const stream of [false, true]) {
      let resp;
      let summaryDeltas = '';
      if (stream) {
        const events = await collect(await openai.responses.create({ ...params, stream: true }));
        summaryDeltas = events.filter((e) => e.type === 'response.reasoning_summary_text.delta').map((e) => e.delta).join('');
        resp = events.at(-1).response;
        assert.equal(events.at(-1).type, 'response.completed');
      } else {
        resp = await openai.responses.create(params);
      }
      const reasoning = resp.output.find((o) => o.type === 'reasoning');
      assert.ok(reasoning, `a reasoning item (stream: ${stream})`);
      assert.equal(reasoning.summary[0].text, 'The user wants a haiku; keep it short.');
      if (stream) assert.equal(summaryDeltas, reasoning.summary[0].text);
      const message = resp.output.find((o) => o.type === 'message');
      assert.equal(message.content[0].text, 'Autumn wind blows.');
      assert.equal(resp.usage.input_tokens, 100, 'input_tokens include the cached ones');
      assert.equal(resp.usage.input_tokens_details.cached_tokens, 70);
      assert.equal(resp.usage.output_tokens, 25);
      assert.equal(resp.usage.output_tokens_details.reasoning_tokens, 11);
    }
    const seen = upstreamRequests(up.kind, 'E2E-R-REASON')[0].body;
    if (up.kind === 'chat') assert.equal(seen.reasoning_effort, 'low');
    else assert.deepEqual(seen.reasoning, { effort: 'low', summary: 'auto' });
  });

  test(`responses via ${up.kind} upstream: a mid-stream upstream error ends the stream as failed`, async () => {
    const events = [];
    let thrown = null;
    try {
      for await (const ev of await openai.responses.create({ model: up.model, input: 'go E2E-R-FAIL', stream: true })) events.push(ev);
    } catch (e) {
      thrown = e;
    }
    const types = events.map((e) => e.type);
    assert.ok(types.includes('response.output_text.delta'), 'some text came before the failure');
    assert.ok(!types.includes('response.completed'), 'never completed');
    const failed = events.find((e) => e.type === 'response.failed');
    assert.ok(thrown || failed, `the stream reports the failure (events: ${types.join(', ')})`);
    if (failed) {
      assert.equal(failed.response.status, 'failed');
      assert.match(failed.response.error.message, /upstream|exploded|error/i);
    }
  });
}

test('responses: previous_response_id and unknown fields are refused in the OpenAI error shape', async () => {
  const before = stack.requests().length;
  await assert.rejects(
    openai.responses.create({ model: RESPONSES_MODEL, input: 'hi', previous_response_id: 'resp_123' }),
    (e) => {
      assert.equal(e.status, 400);
      assert.equal(e.error?.type, 'invalid_request_error');
      assert.match(e.message, /previous_response_id: .*keeps no stored responses/);
      return true;
    });
  const r = await fetch(`${stack.gateway}/v1/responses`, {
    method: 'POST', headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: RESPONSES_MODEL, input: 'hi', colour: 'blue' }),
  });
  assert.equal(r.status, 400);
  const body = await r.json();
  assert.match(body.error.message, /colour: unknown field/);
  assert.equal(stack.requests().length, before, 'nothing reached the upstream');
});

test('anthropic and chat clients reach the responses upstream (parallel tool calls, whole and streamed)', async () => {
  const before = stack.requests().length;
  // Anthropic Messages client.
  const anthropicBody = { model: RESPONSES_MODEL, max_tokens: 512,
    tools: tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters })),
    messages: [{ role: 'user', content: 'weather and time in Oslo E2E-R-TOOLS' }] };
  const headers = { 'x-api-key': stack.apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
  const whole = await (await fetch(`${stack.gateway}/v1/messages`, { method: 'POST', headers,
    body: JSON.stringify(anthropicBody) })).json();
  assert.equal(whole.stop_reason, 'tool_use', JSON.stringify(whole));
  assert.deepEqual(whole.content.filter((b) => b.type === 'tool_use').map((b) => [b.name, b.input]),
    [['get_weather', { city: 'Oslo', units: 'celsius' }], ['get_time', { tz: 'Europe/Oslo' }]]);
  const sse = await (await fetch(`${stack.gateway}/v1/messages`, { method: 'POST', headers,
    body: JSON.stringify({ ...anthropicBody, stream: true }) })).text();
  assert.match(sse, /event: message_stop/);
  assert.equal((sse.match(/"type":"tool_use"/g) ?? []).length, 2, sse);

  // OpenAI Chat client, through the SDK's stream helper.
  const chat = await openai.chat.completions.stream({ model: RESPONSES_MODEL,
    tools: tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })),
    messages: [{ role: 'user', content: 'weather and time in Oslo E2E-R-TOOLS' }] }).finalChatCompletion();
  assert.equal(chat.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(chat.choices[0].message.tool_calls.map((c) => c.function.name), ['get_weather', 'get_time']);

  const seen = stack.requests().slice(before);
  assert.equal(seen.length, 3);
  assert.ok(seen.every((r) => r.path === '/v1/responses' && r.status === 200), JSON.stringify(seen.map((r) => [r.path, r.status, r.error])));
});
