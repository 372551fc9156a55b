// The official SDKs (@anthropic-ai/sdk, openai) through Tianshu to the strict fake upstream.
// Run: node --test tests/e2e/sdk_clients.test.mjs   (needs `npm ci` in tests/e2e and a build)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startStack, requireNodeModules, UPSTREAM_MODEL } from './lib/stack.mjs';

requireNodeModules('@anthropic-ai/sdk', 'openai');
const { default: Anthropic } = await import('@anthropic-ai/sdk');
const { default: OpenAI } = await import('openai');

// Every turn is selected by a marker in the last user text and never runs out, so the tests
// are independent of their order and the same scripted turn can answer several requests.
const WEATHER_ARGS = '{"city":"Paris","units":"celsius","days":[1,2,3],"note":"naïve “quotes” ✓"}';
const scenario = {
  max_output_tokens: 8192,
  turns: [
    { match: 'E2E-A-TEXT', text: 'Hello from the scripted upstream: 你好, naïve ✓.', times: 0,
      usage: { input_tokens: 21, output_tokens: 9 }, stream: { chunk_size: 4 } },
    { match: 'E2E-A-TOOL', text: 'Checking the weather.', times: 0,
      tool_calls: [{ id: 'call_weather_1', name: 'get_weather', arguments: WEATHER_ARGS }],
      usage: { input_tokens: 50, output_tokens: 20 },
      stream: { chunk_size: 3, split_tool_arguments: true } },
    { match: 'sunny, 21 degrees', text: 'It is sunny in Paris.', times: 0 },
    { match: 'E2E-O-TEXT', text: 'OpenAI-shaped hello, 世界.', times: 0, stream: { chunk_size: 2 } },
    { match: 'E2E-O-TOOLS', times: 0,
      tool_calls: [
        { id: 'call_a', name: 'get_weather', arguments: '{"city":"Oslo","units":"celsius"}' },
        { id: 'call_b', name: 'get_time', arguments: '{"tz":"Europe/Oslo"}' },
      ],
      stream: { chunk_size: 3, interleave_parallel_tools: true, late_tool_name: true } },
  ],
};

const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: {
    type: 'object',
    properties: {
      city: { type: 'string' }, units: { type: 'string', enum: ['celsius', 'fahrenheit'] },
      days: { type: 'array', items: { type: 'integer' } }, note: { type: 'string' },
    },
    required: ['city'],
  },
};
const oaiTools = [
  { type: 'function', function: { name: 'get_weather', description: 'weather',
    parameters: { type: 'object', properties: { city: { type: 'string' }, units: { type: 'string' } },
      required: ['city'] } } },
  { type: 'function', function: { name: 'get_time', description: 'time',
    parameters: { type: 'object', properties: { tz: { type: 'string' } }, required: ['tz'] } } },
];

let stack;
let anthropic;
let openai;

before(async () => {
  stack = await startStack({ scenario });
  anthropic = new Anthropic({ baseURL: stack.gateway, apiKey: stack.apiKey, maxRetries: 0, timeout: 30000 });
  openai = new OpenAI({ baseURL: `${stack.gateway}/v1`, apiKey: stack.apiKey, maxRetries: 0, timeout: 30000 });
});

after(async () => {
  await stack?.stop();
});

// Upstream requests whose last message contains `marker`.
function upstreamRequestsWith(marker) {
  return stack.requests().filter((r) => JSON.stringify(r.body?.messages ?? []).includes(marker));
}

test('anthropic sdk: non-streaming text', async () => {
  const msg = await anthropic.messages.create({
    model: 'claude-e2e-sonnet', max_tokens: 256,
    messages: [{ role: 'user', content: 'Say hello. E2E-A-TEXT' }],
  });
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.stop_reason, 'end_turn');
  assert.deepEqual(msg.content, [{ type: 'text', text: 'Hello from the scripted upstream: 你好, naïve ✓.' }]);
  assert.equal(msg.usage.input_tokens, 21);
  assert.equal(msg.usage.output_tokens, 9);
  const seen = upstreamRequestsWith('E2E-A-TEXT');
  assert.equal(seen.length, 1, 'exactly one upstream request');
  assert.equal(seen[0].body.model, UPSTREAM_MODEL, 'claude-* mapped to the channel model');
  assert.equal(seen[0].status, 200);
});

test('anthropic sdk: messages.stream with a fragmented tool call equals the non-streaming answer', async () => {
  const params = {
    model: 'claude-e2e-sonnet', max_tokens: 1024, tools: [weatherTool],
    messages: [{ role: 'user', content: 'Weather in Paris? E2E-A-TOOL' }],
  };
  const plain = await anthropic.messages.create(params);

  const stream = anthropic.messages.stream(params);
  const eventTypes = [];
  let jsonDeltas = 0;
  stream.on('streamEvent', (ev) => {
    eventTypes.push(ev.type);
    if (ev.type === 'content_block_delta' && ev.delta.type === 'input_json_delta') jsonDeltas++;
  });
  const streamed = await stream.finalMessage();

  assert.ok(jsonDeltas > 1, `tool input arrived in fragments (got ${jsonDeltas} input_json_delta)`);
  assert.equal(eventTypes[0], 'message_start');
  assert.equal(eventTypes.at(-1), 'message_stop');

  const expectedInput = JSON.parse(WEATHER_ARGS);
  for (const m of [plain, streamed]) {
    assert.equal(m.stop_reason, 'tool_use');
    assert.equal(m.content.length, 2);
    assert.deepEqual(m.content[0], { type: 'text', text: 'Checking the weather.' });
    assert.equal(m.content[1].type, 'tool_use');
    assert.equal(m.content[1].name, 'get_weather');
    assert.deepEqual(m.content[1].input, expectedInput);
  }
  assert.deepEqual(streamed.content, plain.content, 'streamed content equals non-streamed content');
  assert.equal(streamed.stop_reason, plain.stop_reason);
  assert.equal(streamed.model, plain.model);
  assert.deepEqual(streamed.usage, plain.usage);

  // Both client requests reached the upstream with the tool converted to OpenAI's shape.
  const seen = upstreamRequestsWith('E2E-A-TOOL');
  assert.equal(seen.length, 2);
  for (const r of seen) {
    assert.equal(r.status, 200);
    assert.equal(r.body.tools[0].type, 'function');
    assert.equal(r.body.tools[0].function.name, 'get_weather');
    assert.deepEqual(r.body.tools[0].function.parameters, weatherTool.input_schema);
  }
});

test('anthropic sdk: tool result round trip reaches the upstream as a tool message', async () => {
  const first = await anthropic.messages.create({
    model: 'claude-e2e-sonnet', max_tokens: 1024, tools: [weatherTool],
    messages: [{ role: 'user', content: 'Weather in Paris, then summarise. E2E-A-TOOL' }],
  });
  const toolUse = first.content.find((b) => b.type === 'tool_use');
  assert.ok(toolUse, 'a tool_use block');
  const second = await anthropic.messages.stream({
    model: 'claude-e2e-sonnet', max_tokens: 1024, tools: [weatherTool],
    messages: [
      { role: 'user', content: 'Weather in Paris, then summarise. E2E-A-TOOL' },
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: 'sunny, 21 degrees' }] },
    ],
  }).finalMessage();
  assert.deepEqual(second.content, [{ type: 'text', text: 'It is sunny in Paris.' }]);
  assert.equal(second.stop_reason, 'end_turn');

  const seen = upstreamRequestsWith('sunny, 21 degrees');
  assert.equal(seen.length, 1);
  const msgs = seen[0].body.messages;
  const assistant = msgs.find((m) => m.role === 'assistant');
  const tool = msgs.find((m) => m.role === 'tool');
  assert.equal(assistant.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(JSON.parse(assistant.tool_calls[0].function.arguments), JSON.parse(WEATHER_ARGS));
  assert.equal(tool.tool_call_id, assistant.tool_calls[0].id);
  assert.match(JSON.stringify(tool.content), /sunny, 21 degrees/);
});

test('openai sdk: chat.completions non-streaming and streaming text', async () => {
  const params = { model: UPSTREAM_MODEL, messages: [{ role: 'user', content: 'hello E2E-O-TEXT' }] };
  const plain = await openai.chat.completions.create(params);
  assert.equal(plain.object, 'chat.completion');
  assert.equal(plain.choices.length, 1);
  assert.equal(plain.choices[0].message.role, 'assistant');
  assert.equal(plain.choices[0].message.content, 'OpenAI-shaped hello, 世界.');
  assert.equal(plain.choices[0].finish_reason, 'stop');
  assert.ok(plain.usage.completion_tokens > 0);

  const stream = await openai.chat.completions.create({ ...params, stream: true,
    stream_options: { include_usage: true } });
  let text = '';
  let chunks = 0;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      chunks++;
      if (c.delta?.content) text += c.delta.content;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks > 2, `several chunks (got ${chunks})`);
  assert.equal(text, plain.choices[0].message.content);
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.completion_tokens > 0, 'usage chunk when include_usage is set');
});

test('openai sdk: parallel tool calls, non-streaming and streaming (helper) agree', async () => {
  const params = { model: UPSTREAM_MODEL, tools: oaiTools,
    messages: [{ role: 'user', content: 'weather and time in Oslo E2E-O-TOOLS' }] };
  const plain = await openai.chat.completions.create(params);
  const streamed = await openai.chat.completions.stream(params).finalChatCompletion();

  for (const c of [plain, streamed]) {
    const choice = c.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    const calls = choice.message.tool_calls;
    assert.equal(calls.length, 2);
    assert.deepEqual(calls.map((t) => t.type), ['function', 'function']);
    assert.deepEqual(calls.map((t) => t.function.name), ['get_weather', 'get_time']);
    assert.deepEqual(JSON.parse(calls[0].function.arguments), { city: 'Oslo', units: 'celsius' });
    assert.deepEqual(JSON.parse(calls[1].function.arguments), { tz: 'Europe/Oslo' });
    assert.ok(calls[0].id && calls[1].id && calls[0].id !== calls[1].id);
  }
  assert.deepEqual(streamed.choices[0].message.tool_calls.map((t) => [t.id, t.function]),
    plain.choices[0].message.tool_calls.map((t) => [t.id, t.function]));

  // Send the results back: the upstream must see both tool messages, paired by id.
  const calls = plain.choices[0].message.tool_calls;
  const final = await openai.chat.completions.create({ ...params, messages: [
    ...params.messages,
    { role: 'assistant', content: null, tool_calls: calls },
    { role: 'tool', tool_call_id: calls[0].id, content: 'sunny, 21 degrees' },
    { role: 'tool', tool_call_id: calls[1].id, content: '14:05' },
  ] });
  assert.equal(final.choices[0].message.content, 'It is sunny in Paris.');
  const seen = upstreamRequestsWith('14:05');
  assert.equal(seen.length, 1);
  const toolMsgs = seen[0].body.messages.filter((m) => m.role === 'tool');
  assert.deepEqual(toolMsgs.map((m) => m.tool_call_id), [calls[0].id, calls[1].id]);
});
