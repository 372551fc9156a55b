// The fake upstream's OpenAI Responses mode (POST /v1/responses): validation as strict as the
// real API (unknown fields, a function_call without its function_call_output, an output without
// its call, max_output_tokens below 16 …) and scripted answers, whole or as the typed
// `response.*` event stream. Used by fake_upstream.mjs; Node standard library only.

export const RESPONSES_FIELDS = new Set([
  'model', 'input', 'instructions', 'tools', 'tool_choice', 'max_output_tokens', 'temperature',
  'top_p', 'stream', 'parallel_tool_calls', 'reasoning', 'metadata', 'store',
  'previous_response_id', 'include', 'prompt_cache_key', 'text', 'service_tier', 'user',
  'truncation', 'safety_identifier', 'stream_options', 'background', 'conversation',
  'max_tool_calls', 'top_logprobs', 'prompt', 'client_metadata',
]);

const ITEM_KEYS = {
  message: new Set(['type', 'role', 'content', 'id', 'status']),
  function_call: new Set(['type', 'call_id', 'name', 'arguments', 'id', 'status']),
  function_call_output: new Set(['type', 'call_id', 'output', 'id', 'status']),
  reasoning: new Set(['type', 'id', 'summary', 'content', 'encrypted_content', 'status']),
};
const PART_KEYS = {
  input_text: new Set(['type', 'text']),
  input_image: new Set(['type', 'image_url', 'file_id', 'detail']),
  input_file: new Set(['type', 'file_id', 'file_data', 'file_url', 'filename']),
  output_text: new Set(['type', 'text', 'annotations', 'logprobs']),
  refusal: new Set(['type', 'refusal']),
};
const TOOL_NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;
const INCLUDES = new Set(['reasoning.encrypted_content', 'message.output_text.logprobs',
  'file_search_call.results', 'web_search_call.action.sources', 'code_interpreter_call.outputs',
  'computer_call_output.output.image_url', 'message.input_image.image_url']);

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

export class ResponsesError extends Error {
  constructor(message, param = null) {
    super(message);
    this.status = 400;
    this.param = param;
  }
}
const bad = (message, param = null) => new ResponsesError(message, param);
const unknown = (p) => bad(`Unknown parameter: '${p}'.`, p);

function checkKeys(obj, allowed, p) {
  for (const k of Object.keys(obj)) if (!allowed.has(k)) throw unknown(`${p}.${k}`);
}

function checkParts(content, role, p) {
  if (typeof content === 'string') return;
  if (!Array.isArray(content)) throw bad(`Invalid type for '${p}': expected a string or an array.`, p);
  const allowed = role === 'assistant' ? ['output_text', 'refusal'] : ['input_text', 'input_image', 'input_file'];
  content.forEach((part, j) => {
    const pp = `${p}[${j}]`;
    if (!isObj(part)) throw bad(`Invalid type for '${pp}': expected an object.`, pp);
    if (!allowed.includes(part.type)) {
      throw bad(`Invalid value: '${part.type}'. Supported values are: ${allowed.map((a) => `'${a}'`).join(', ')}.`, `${pp}.type`);
    }
    checkKeys(part, PART_KEYS[part.type], pp);
    if ((part.type === 'input_text' || part.type === 'output_text') && typeof part.text !== 'string') {
      throw bad(`Missing required parameter: '${pp}.text'.`, `${pp}.text`);
    }
    if (part.type === 'input_image' && typeof part.image_url !== 'string' && typeof part.file_id !== 'string') {
      throw bad(`Missing required parameter: '${pp}.image_url'.`, `${pp}.image_url`);
    }
  });
}

// Throws a ResponsesError (HTTP 400) as the real API would.
export function validateResponses(body, sc = {}) {
  if (!isObj(body)) throw bad('Request body must be a JSON object');
  const rejected = new Set(sc.reject_fields ?? []);
  for (const k of Object.keys(body)) if (!RESPONSES_FIELDS.has(k) || rejected.has(k)) throw unknown(k);
  if (typeof body.model !== 'string' || body.model === '') throw bad("Missing required parameter: 'model'.", 'model');
  if (body.previous_response_id != null) throw bad(`Previous response with id '${body.previous_response_id}' not found.`, 'previous_response_id');
  if (body.max_output_tokens != null) {
    if (!Number.isInteger(body.max_output_tokens)) throw bad("Invalid type for 'max_output_tokens': expected an integer.", 'max_output_tokens');
    if (body.max_output_tokens < 16) {
      throw bad(`Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got ${body.max_output_tokens} instead.`, 'max_output_tokens');
    }
    if (sc.max_output_tokens && body.max_output_tokens > sc.max_output_tokens) {
      throw bad(`max_output_tokens ${body.max_output_tokens} is greater than the model's maximum ${sc.max_output_tokens}.`, 'max_output_tokens');
    }
  }
  if (body.temperature != null && !(typeof body.temperature === 'number' && body.temperature >= 0 && body.temperature <= 2)) {
    throw bad("Invalid 'temperature': decimal above maximum value. Expected a value <= 2.", 'temperature');
  }
  if (body.top_p != null && !(typeof body.top_p === 'number' && body.top_p >= 0 && body.top_p <= 1)) {
    throw bad("Invalid 'top_p': expected a value between 0 and 1.", 'top_p');
  }
  for (const k of ['stream', 'store', 'parallel_tool_calls']) {
    if (body[k] != null && typeof body[k] !== 'boolean') throw bad(`Invalid type for '${k}': expected a boolean.`, k);
  }
  if (body.instructions != null && typeof body.instructions !== 'string') throw bad("Invalid type for 'instructions': expected a string.", 'instructions');
  if (body.include != null) {
    if (!Array.isArray(body.include)) throw bad("Invalid type for 'include': expected an array.", 'include');
    body.include.forEach((v, i) => { if (!INCLUDES.has(v)) throw bad(`Invalid value: '${v}'.`, `include[${i}]`); });
  }
  if (body.reasoning != null) {
    if (!isObj(body.reasoning)) throw bad("Invalid type for 'reasoning': expected an object.", 'reasoning');
    checkKeys(body.reasoning, new Set(['effort', 'summary', 'generate_summary']), 'reasoning');
    if (body.reasoning.effort != null && !['none', 'minimal', 'low', 'medium', 'high', 'xhigh'].includes(body.reasoning.effort)) {
      throw bad(`Invalid value: '${body.reasoning.effort}'.`, 'reasoning.effort');
    }
    if (body.reasoning.summary != null && !['auto', 'concise', 'detailed'].includes(body.reasoning.summary)) {
      throw bad(`Invalid value: '${body.reasoning.summary}'.`, 'reasoning.summary');
    }
  }

  // tools
  const names = new Set();
  if (body.tools != null) {
    if (!Array.isArray(body.tools)) throw bad("Invalid type for 'tools': expected an array.", 'tools');
    body.tools.forEach((t, i) => {
      const p = `tools[${i}]`;
      if (!isObj(t)) throw bad(`Invalid type for '${p}': expected an object.`, p);
      if (t.type !== 'function') return; // hosted tools: not checked further
      checkKeys(t, new Set(['type', 'name', 'description', 'parameters', 'strict']), p);
      if (typeof t.name !== 'string' || !TOOL_NAME_RE.test(t.name)) throw bad(`Invalid '${p}.name': string does not match pattern.`, `${p}.name`);
      if (names.has(t.name)) throw bad(`Duplicate tool name: '${t.name}'.`, `${p}.name`);
      names.add(t.name);
      if (t.parameters != null && !isObj(t.parameters)) throw bad(`Invalid type for '${p}.parameters': expected an object.`, `${p}.parameters`);
      if (t.strict != null && typeof t.strict !== 'boolean') throw bad(`Invalid type for '${p}.strict': expected a boolean.`, `${p}.strict`);
    });
  }
  if (body.tool_choice != null) {
    const tc = body.tool_choice;
    if (typeof tc === 'string') {
      if (!['auto', 'none', 'required'].includes(tc)) throw bad(`Invalid value: '${tc}'.`, 'tool_choice');
      if (tc === 'required' && names.size === 0) throw bad("Tool choice 'required' must be specified with 'tools' parameter.", 'tool_choice');
    } else if (isObj(tc) && tc.type === 'function') {
      checkKeys(tc, new Set(['type', 'name']), 'tool_choice');
      if (!names.has(tc.name)) throw bad(`Tool choice '${tc.name}' not found in 'tools' parameter.`, 'tool_choice.name');
    } else {
      throw bad("Invalid 'tool_choice'.", 'tool_choice');
    }
  }

  // input
  if (body.input === undefined) throw bad("Missing required parameter: 'input'.", 'input');
  if (typeof body.input === 'string') return;
  if (!Array.isArray(body.input)) throw bad("Invalid type for 'input': expected a string or an array.", 'input');
  const calls = new Map(); // call_id -> index
  const answered = new Set();
  body.input.forEach((item, i) => {
    const p = `input[${i}]`;
    if (!isObj(item)) throw bad(`Invalid type for '${p}': expected an object.`, p);
    const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
    if (!ITEM_KEYS[type]) throw bad(`Invalid value: '${item.type}'. Supported values are: 'message', 'function_call', 'function_call_output', 'reasoning'.`, `${p}.type`);
    checkKeys(item, ITEM_KEYS[type], p);
    if (type === 'message') {
      if (!['user', 'assistant', 'system', 'developer'].includes(item.role)) throw bad(`Invalid value: '${item.role}'.`, `${p}.role`);
      if (item.content === undefined) throw bad(`Missing required parameter: '${p}.content'.`, `${p}.content`);
      checkParts(item.content, item.role, `${p}.content`);
    } else if (type === 'function_call') {
      for (const k of ['call_id', 'name', 'arguments']) {
        if (typeof item[k] !== 'string') throw bad(`Missing required parameter: '${p}.${k}'.`, `${p}.${k}`);
      }
      try {
        const a = JSON.parse(item.arguments);
        if (!isObj(a)) throw new Error('not an object');
      } catch {
        throw bad(`Invalid '${p}.arguments': must be a JSON object encoded as a string.`, `${p}.arguments`);
      }
      calls.set(item.call_id, i);
    } else if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string') throw bad(`Missing required parameter: '${p}.call_id'.`, `${p}.call_id`);
      if (item.output === undefined) throw bad(`Missing required parameter: '${p}.output'.`, `${p}.output`);
      if (typeof item.output !== 'string') checkParts(item.output, 'user', `${p}.output`);
      if (!calls.has(item.call_id)) throw bad(`No tool call found for function call output with call_id ${item.call_id}.`, 'input');
      answered.add(item.call_id);
    } else if (type === 'reasoning') {
      if (!Array.isArray(item.summary)) throw bad(`Missing required parameter: '${p}.summary'.`, `${p}.summary`);
      item.summary.forEach((s, j) => {
        if (!isObj(s) || s.type !== 'summary_text' || typeof s.text !== 'string') throw bad(`Invalid '${p}.summary[${j}]'.`, `${p}.summary[${j}]`);
      });
    }
  });
  for (const [id] of calls) if (!answered.has(id)) throw bad(`No tool output found for function call ${id}.`, 'input');
}

// The text a scripted turn is matched against: user text and tool outputs after the last
// assistant item.
export function responsesLastUserText(body) {
  if (typeof body?.input === 'string') return body.input;
  const items = Array.isArray(body?.input) ? body.input : [];
  let start = 0;
  for (let i = items.length - 1; i >= 0; i--) {
    const it = items[i];
    if (isObj(it) && (it.role === 'assistant' || it.type === 'function_call')) { start = i + 1; break; }
  }
  const texts = [];
  const partText = (c) => (typeof c === 'string' ? c : Array.isArray(c) ? c.map((x) => x?.text ?? '').join('') : '');
  for (const it of items.slice(start)) {
    if (!isObj(it)) continue;
    if (it.role === 'user') texts.push(partText(it.content));
    if (it.type === 'function_call_output') texts.push(partText(it.output));
  }
  return texts.join('\n');
}

function usageOf(u) {
  const input = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: u.cache_read_input_tokens },
    output_tokens: u.output_tokens,
    output_tokens_details: { reasoning_tokens: u.reasoning_tokens },
    total_tokens: input + u.output_tokens,
  };
}

// The output items of a turn; `helpers` are the fake upstream's shared functions.
function outputItems(turn, reqBody, ctx, calls) {
  const items = [];
  const tag = ctx.id.slice(5);
  if (turn.reasoning) {
    const r = { id: `rs_${tag}_${items.length}`, type: 'reasoning', summary: [{ type: 'summary_text', text: turn.reasoning }] };
    if ((reqBody.include ?? []).includes('reasoning.encrypted_content')) r.encrypted_content = turn.signature ?? 'enc-fake';
    items.push(r);
  }
  if (turn.text !== undefined && turn.text !== '') {
    items.push({ id: `msg_${tag}_${items.length}`, type: 'message', status: 'completed', role: 'assistant',
      content: [{ type: 'output_text', text: turn.text, annotations: [], logprobs: [] }] });
  }
  for (const c of calls) {
    items.push({ id: `fc_${tag}_${items.length}`, type: 'function_call', status: 'completed', call_id: c.id, name: c.name, arguments: c.arguments });
  }
  return items;
}

function responseObject(turn, reqBody, ctx, calls, usage, status, output) {
  const incomplete = status === 'incomplete' ? { reason: 'max_output_tokens' } : null;
  return {
    id: ctx.id, object: 'response', created_at: ctx.created, status, error: null,
    incomplete_details: incomplete, instructions: reqBody.instructions ?? null,
    max_output_tokens: reqBody.max_output_tokens ?? null, model: ctx.model, output,
    parallel_tool_calls: reqBody.parallel_tool_calls ?? true, previous_response_id: null,
    reasoning: { effort: reqBody.reasoning?.effort ?? null, summary: reqBody.reasoning?.summary ?? null },
    store: reqBody.store ?? true, temperature: reqBody.temperature ?? 1, text: { format: { type: 'text' } },
    tool_choice: reqBody.tool_choice ?? 'auto', tools: reqBody.tools ?? [], top_p: reqBody.top_p ?? 1,
    truncation: 'disabled', usage, metadata: reqBody.metadata ?? {},
  };
}

// helpers: { normalizeToolCalls, computeUsage, splitChunks }
export function responsesWhole(turn, reqBody, ctx, helpers) {
  const calls = helpers.normalizeToolCalls(turn, 'openai');
  const usage = turn.report_usage === false ? null : usageOf(helpers.computeUsage(turn, reqBody, calls));
  const status = turn.finish_reason === 'length' ? 'incomplete' : 'completed';
  return responseObject(turn, reqBody, ctx, calls, usage, status, outputItems(turn, reqBody, ctx, calls));
}

// The event stream: [{event, data}], sequence numbers from 0.
export function responsesEvents(turn, reqBody, ctx, helpers) {
  const st = turn.stream ?? {};
  const size = st.chunk_size ?? 8;
  const calls = helpers.normalizeToolCalls(turn, 'openai');
  const whole = responsesWhole(turn, reqBody, ctx, helpers);
  const out = [];
  let seq = 0;
  const ev = (type, data) => out.push({ event: type, data: { type, sequence_number: seq++, ...data } });
  const pending = { ...whole, status: 'in_progress', output: [], usage: null, incomplete_details: null };
  ev('response.created', { response: pending });
  ev('response.in_progress', { response: pending });
  whole.output.forEach((item, output_index) => {
    const item_id = item.id;
    if (item.type === 'reasoning') {
      ev('response.output_item.added', { output_index, item: { id: item_id, type: 'reasoning', summary: [] } });
      const text = item.summary[0].text;
      ev('response.reasoning_summary_part.added', { item_id, output_index, summary_index: 0, part: { type: 'summary_text', text: '' } });
      for (const piece of helpers.splitChunks(text, size)) ev('response.reasoning_summary_text.delta', { item_id, output_index, summary_index: 0, delta: piece });
      ev('response.reasoning_summary_text.done', { item_id, output_index, summary_index: 0, text });
      ev('response.reasoning_summary_part.done', { item_id, output_index, summary_index: 0, part: { type: 'summary_text', text } });
    } else if (item.type === 'message') {
      const text = item.content[0].text;
      ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
      ev('response.content_part.added', { item_id, output_index, content_index: 0, part: { type: 'output_text', text: '', annotations: [], logprobs: [] } });
      for (const piece of helpers.splitChunks(text, size)) ev('response.output_text.delta', { item_id, output_index, content_index: 0, delta: piece, logprobs: [] });
      ev('response.output_text.done', { item_id, output_index, content_index: 0, text, logprobs: [] });
      ev('response.content_part.done', { item_id, output_index, content_index: 0, part: item.content[0] });
    } else {
      ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } });
      const pieces = st.split_tool_arguments === false ? [item.arguments] : helpers.splitChunks(item.arguments, size);
      for (const piece of pieces) ev('response.function_call_arguments.delta', { item_id, output_index, delta: piece });
      ev('response.function_call_arguments.done', { item_id, output_index, arguments: item.arguments });
    }
    ev('response.output_item.done', { output_index, item });
  });
  ev(whole.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: whole });
  void calls;
  return out;
}

// The in-stream error the real API sends when a response fails mid-way.
export function responsesErrorEvent(message) {
  return `event: error\ndata: ${JSON.stringify({ type: 'error', code: 'server_error', message, param: null, sequence_number: 0 })}\n\n`;
}
