#!/usr/bin/env node
// Tianshu fake upstream: a scripted, strict stand-in for an OpenAI Chat Completions
// provider and an Anthropic Messages provider, for the gateway's integration tests.
// Node standard library only. Listens on 127.0.0.1 only. See README.md.

import http from 'node:http';
import https from 'node:https';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateResponses, responsesLastUserText, responsesWhole, responsesEvents, responsesErrorEvent, ResponsesError } from './responses_mode.mjs';
import { GeminiError, geminiChunks, geminiErrorBody, geminiRoute, geminiWhole, validateGemini } from './gemini_mode.mjs';

// ---------------------------------------------------------------------------
// Allow-lists (the real APIs' request fields)
// ---------------------------------------------------------------------------

export const OPENAI_FIELDS = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'n',
  'stream', 'stream_options', 'stop', 'presence_penalty', 'frequency_penalty', 'logit_bias',
  'user', 'tools', 'tool_choice', 'parallel_tool_calls', 'response_format', 'seed',
  'reasoning_effort', 'logprobs', 'top_logprobs', 'metadata', 'store', 'service_tier',
  'prediction', 'modalities', 'audio',
]);

const OPENAI_MESSAGE_FIELDS = new Set([
  'role', 'content', 'name', 'tool_calls', 'tool_call_id', 'refusal', 'audio', 'function_call',
  'reasoning_content',
]);

const OPENAI_ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);
const OPENAI_PART_TYPES = {
  system: new Set(['text']),
  developer: new Set(['text']),
  user: new Set(['text', 'image_url', 'input_audio', 'file']),
  assistant: new Set(['text', 'refusal']),
  tool: new Set(['text']),
};

export const ANTHROPIC_FIELDS = new Set([
  'model', 'messages', 'max_tokens', 'system', 'metadata', 'stop_sequences', 'stream',
  'temperature', 'top_p', 'top_k', 'tools', 'tool_choice', 'thinking', 'service_tier',
  'container', 'mcp_servers', 'context_management', 'output_config', 'inference_geo',
  'cache_control',
]);

const ANTHROPIC_BLOCK_KEYS = {
  text: new Set(['type', 'text', 'cache_control', 'citations']),
  image: new Set(['type', 'source', 'cache_control']),
  document: new Set(['type', 'source', 'cache_control', 'citations', 'context', 'title']),
  search_result: new Set(['type', 'source', 'title', 'content', 'cache_control', 'citations']),
  tool_use: new Set(['type', 'id', 'name', 'input', 'cache_control']),
  tool_result: new Set(['type', 'tool_use_id', 'content', 'is_error', 'cache_control']),
  thinking: new Set(['type', 'thinking', 'signature']),
  redacted_thinking: new Set(['type', 'data']),
  server_tool_use: null, // server-side tool blocks: not checked key by key
  web_search_tool_result: null,
  web_fetch_tool_result: null,
  code_execution_tool_result: null,
  container_upload: null,
};

const TOOL_NAME_RE = /^[a-zA-Z0-9_-]{1,64}$/;
const DEFAULT_API_KEY = 'sk-up';

// Subschema-bearing JSON Schema keywords, used to walk a schema without mistaking
// property names (keys of "properties") for keywords.
const SCHEMA_MAP_KEYWORDS = ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas'];
const SCHEMA_ONE_KEYWORDS = ['additionalProperties', 'items', 'not', 'if', 'then', 'else', 'contains',
  'propertyNames', 'unevaluatedProperties', 'unevaluatedItems', 'additionalItems'];
const SCHEMA_ARRAY_KEYWORDS = ['anyOf', 'oneOf', 'allOf', 'prefixItems', 'items'];

// ---------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message, param = null, extra = {}) {
    super(message);
    this.status = status;
    this.param = param;
    Object.assign(this, extra);
  }
}
const bad = (message, param = null) => new ApiError(400, message, param);

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isInt = (v) => typeof v === 'number' && Number.isInteger(v);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const typeName = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

function splitChunks(str, size) {
  const cps = Array.from(str ?? '');
  if (!size || size <= 0 || cps.length === 0) return cps.length ? [cps.join('')] : [];
  const out = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(''));
  return out;
}

function approxTokens(s) {
  return Math.max(1, Math.ceil((s ?? '').length / 4));
}

function randId(prefix) {
  return prefix + Math.random().toString(36).slice(2, 12) + Math.random().toString(36).slice(2, 8);
}

function loadScenario(scenario) {
  if (scenario == null) return { turns: [] };
  if (typeof scenario === 'string') return JSON.parse(fs.readFileSync(scenario, 'utf8'));
  return structuredClone(scenario);
}

// ---------------------------------------------------------------------------
// JSON-Schema keyword check
// ---------------------------------------------------------------------------

function checkSchemaKeywords(schema, banned, where, onHit) {
  if (!banned || banned.length === 0) return;
  const bannedSet = new Set(banned);
  const walk = (node, p) => {
    if (Array.isArray(node)) return; // arrays handled by the caller
    if (!isObj(node)) return;
    for (const k of Object.keys(node)) {
      if (bannedSet.has(k)) onHit(k, `${p}.${k}`);
    }
    for (const k of SCHEMA_MAP_KEYWORDS) {
      if (isObj(node[k])) for (const [name, sub] of Object.entries(node[k])) walk(sub, `${p}.${k}.${name}`);
    }
    for (const k of SCHEMA_ONE_KEYWORDS) {
      if (isObj(node[k])) walk(node[k], `${p}.${k}`);
    }
    for (const k of SCHEMA_ARRAY_KEYWORDS) {
      if (Array.isArray(node[k])) node[k].forEach((sub, i) => walk(sub, `${p}.${k}[${i}]`));
    }
  };
  walk(schema, where);
}

// ---------------------------------------------------------------------------
// OpenAI Chat Completions validation
// ---------------------------------------------------------------------------

function openaiTextOf(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.filter((p) => isObj(p) && p.type === 'text').map((p) => p.text).join('');
  return '';
}

function validateOpenAIContent(role, content, p) {
  if (typeof content === 'string') return;
  if (!Array.isArray(content)) {
    throw bad(`Invalid type for '${p}.content': expected a string or an array of content parts, but got ${typeName(content)} instead.`, `${p}.content`);
  }
  content.forEach((part, j) => {
    const pp = `${p}.content[${j}]`;
    if (!isObj(part)) throw bad(`Invalid type for '${pp}': expected an object, but got ${typeName(part)} instead.`, pp);
    const allowed = OPENAI_PART_TYPES[role];
    if (typeof part.type !== 'string' || !allowed.has(part.type)) {
      throw bad(`Invalid value: '${part.type}'. Supported values for '${pp}.type' in a '${role}' message are: ${[...allowed].map((t) => `'${t}'`).join(', ')}.`, `${pp}.type`);
    }
    if (part.type === 'text' && typeof part.text !== 'string') throw bad(`Missing required parameter: '${pp}.text'.`, `${pp}.text`);
    if (part.type === 'refusal' && typeof part.refusal !== 'string') throw bad(`Missing required parameter: '${pp}.refusal'.`, `${pp}.refusal`);
    if (part.type === 'image_url' && !(isObj(part.image_url) && typeof part.image_url.url === 'string')) {
      throw bad(`Missing required parameter: '${pp}.image_url.url'.`, `${pp}.image_url.url`);
    }
    if (part.type === 'input_audio' && !(isObj(part.input_audio) && typeof part.input_audio.data === 'string')) {
      throw bad(`Missing required parameter: '${pp}.input_audio.data'.`, `${pp}.input_audio.data`);
    }
  });
}

export function validateOpenAI(body, sc) {
  if (!isObj(body)) throw bad('We could not parse the JSON body of your request. The body must be a JSON object.');
  const rejected = new Set(sc.reject_fields ?? []);
  const providerFields = PROVIDER_MODES[sc.provider]?.fields ?? [];
  for (const k of Object.keys(body)) {
    if ((!OPENAI_FIELDS.has(k) && !providerFields.includes(k)) || rejected.has(k)) throw bad(`Unrecognized request argument supplied: ${k}`, k);
  }
  if (typeof body.model !== 'string' || body.model === '') throw bad("you must provide a model parameter", 'model');
  if (!Array.isArray(body.messages)) throw bad("Missing required parameter: 'messages'.", 'messages');
  if (body.messages.length === 0) throw bad("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages');

  if (body.stream !== undefined && typeof body.stream !== 'boolean') throw bad(`Invalid type for 'stream': expected a boolean, but got ${typeName(body.stream)} instead.`, 'stream');
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (body.stream !== true) throw bad("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
    if (!isObj(body.stream_options)) throw bad(`Invalid type for 'stream_options': expected an object, but got ${typeName(body.stream_options)} instead.`, 'stream_options');
    for (const k of Object.keys(body.stream_options)) {
      if (!['include_usage', 'include_obfuscation'].includes(k)) throw bad(`Unrecognized request argument supplied: stream_options.${k}`, `stream_options.${k}`);
    }
  }
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw bad(`Invalid 'n': fake upstream supports only n=1, got ${JSON.stringify(body.n)}.`, 'n');
  if (body.temperature != null && !(typeof body.temperature === 'number' && body.temperature >= 0 && body.temperature <= 2)) {
    throw bad(`Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got ${JSON.stringify(body.temperature)} instead.`, 'temperature');
  }
  if (body.top_p != null && !(typeof body.top_p === 'number' && body.top_p >= 0 && body.top_p <= 1)) {
    throw bad(`Invalid 'top_p': expected a value between 0 and 1, but got ${JSON.stringify(body.top_p)} instead.`, 'top_p');
  }
  for (const f of ['max_tokens', 'max_completion_tokens']) {
    const v = body[f];
    if (v === undefined || v === null) continue;
    if (!isInt(v) || v < 1) throw bad(`Invalid '${f}': expected a positive integer, but got ${JSON.stringify(v)} instead.`, f);
    if (sc.max_output_tokens && v > sc.max_output_tokens) {
      throw bad(`${f} is too large: ${v}. This model supports at most ${sc.max_output_tokens} completion tokens, whereas you provided ${v}.`, f);
    }
  }

  // --- messages
  const rejectedMsgFields = new Set(sc.reject_message_fields ?? []);
  let lastCalls = null;        // Map id -> answered? for the most recent assistant tool_calls
  let lastCallsAt = -1;
  let blockOpen = false;       // still inside the run of messages answering lastCalls
  const closeBlock = () => {
    if (blockOpen && lastCalls) {
      const missing = [...lastCalls.entries()].filter(([, answered]) => !answered).map(([id]) => id);
      if (missing.length) {
        throw bad(`An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${missing.join(', ')}`, `messages.[${lastCallsAt}].role`);
      }
    }
    blockOpen = false;
  };
  body.messages.forEach((m, i) => {
    const p = `messages[${i}]`;
    if (!isObj(m)) throw bad(`Invalid type for '${p}': expected an object, but got ${typeName(m)} instead.`, p);
    if (!OPENAI_ROLES.has(m.role)) {
      throw bad(`Invalid value: '${m.role}'. Supported values are: 'system', 'assistant', 'user', 'tool', 'function', and 'developer'.`, `${p}.role`);
    }
    for (const k of Object.keys(m)) {
      if (!OPENAI_MESSAGE_FIELDS.has(k) || rejectedMsgFields.has(k)) {
        throw bad(`Additional properties are not allowed ('${k}' was unexpected) - '${p}'`, `${p}.${k}`);
      }
    }
    if (m.role === 'user' || m.role === 'assistant') closeBlock();
    switch (m.role) {
      case 'system': case 'developer': case 'user':
        if (m.content === undefined || m.content === null) throw bad(`Invalid value for '${p}.content': expected a string, got null.`, `${p}.content`);
        validateOpenAIContent(m.role, m.content, p);
        break;
      case 'assistant': {
        const hasCalls = m.tool_calls !== undefined && m.tool_calls !== null;
        if (m.content === undefined || m.content === null) {
          if (!hasCalls && m.function_call == null) throw bad(`Invalid value for '${p}.content': expected a string, got null.`, `${p}.content`);
        } else {
          validateOpenAIContent('assistant', m.content, p);
        }
        if (hasCalls) {
          if (!Array.isArray(m.tool_calls)) throw bad(`Invalid type for '${p}.tool_calls': expected an array, but got ${typeName(m.tool_calls)} instead.`, `${p}.tool_calls`);
          if (m.tool_calls.length === 0) throw bad(`Invalid '${p}.tool_calls': empty array. Expected an array with minimum length 1, but got an empty array instead.`, `${p}.tool_calls`);
          lastCalls = new Map();
          lastCallsAt = i;
          m.tool_calls.forEach((tc, j) => {
            const tp = `${p}.tool_calls[${j}]`;
            if (!isObj(tc)) throw bad(`Invalid type for '${tp}': expected an object, but got ${typeName(tc)} instead.`, tp);
            if (typeof tc.id !== 'string' || tc.id === '') throw bad(`Missing required parameter: '${tp}.id'.`, `${tp}.id`);
            if (tc.type !== 'function') throw bad(`Missing required parameter: '${tp}.type'.`, `${tp}.type`);
            if (!isObj(tc.function)) throw bad(`Missing required parameter: '${tp}.function'.`, `${tp}.function`);
            if (typeof tc.function.name !== 'string' || tc.function.name === '') throw bad(`Missing required parameter: '${tp}.function.name'.`, `${tp}.function.name`);
            if (typeof tc.function.arguments !== 'string') {
              throw bad(`Invalid type for '${tp}.function.arguments': expected a string, but got ${typeName(tc.function.arguments)} instead.`, `${tp}.function.arguments`);
            }
            if (lastCalls.has(tc.id)) throw bad(`Duplicate tool_call id '${tc.id}' in '${p}.tool_calls'.`, `${tp}.id`);
            lastCalls.set(tc.id, false);
          });
          blockOpen = true;
        } else {
          lastCalls = null;
        }
        break;
      }
      case 'tool': {
        if (typeof m.tool_call_id !== 'string' || m.tool_call_id === '') throw bad(`Missing required parameter: '${p}.tool_call_id'.`, `${p}.tool_call_id`);
        if (m.content === undefined || m.content === null) throw bad(`Invalid value for '${p}.content': expected a string, got null.`, `${p}.content`);
        validateOpenAIContent('tool', m.content, p);
        if (!blockOpen || !lastCalls || !lastCalls.has(m.tool_call_id)) {
          throw bad(`Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'. No tool call has id '${m.tool_call_id}' (${p}.tool_call_id).`, `${p}.tool_call_id`);
        }
        if (lastCalls.get(m.tool_call_id)) throw bad(`Invalid parameter: duplicate response for tool_call_id '${m.tool_call_id}' (${p}).`, `${p}.tool_call_id`);
        lastCalls.set(m.tool_call_id, true);
        break;
      }
    }
  });
  closeBlock();

  // --- tools
  const toolNames = new Set();
  if (body.tools !== undefined && body.tools !== null) {
    if (!Array.isArray(body.tools)) throw bad(`Invalid type for 'tools': expected an array, but got ${typeName(body.tools)} instead.`, 'tools');
    body.tools.forEach((t, i) => {
      const p = `tools[${i}]`;
      if (!isObj(t)) throw bad(`Invalid type for '${p}': expected an object, but got ${typeName(t)} instead.`, p);
      if (t.type !== 'function') throw bad(`Invalid value: '${t.type}'. Supported values are: 'function' (${p}.type).`, `${p}.type`);
      for (const k of Object.keys(t)) if (k !== 'type' && k !== 'function') throw bad(`Unrecognized request argument supplied: ${p}.${k}`, `${p}.${k}`);
      const f = t.function;
      if (!isObj(f)) throw bad(`Missing required parameter: '${p}.function'.`, `${p}.function`);
      for (const k of Object.keys(f)) {
        if (!['name', 'description', 'parameters', 'strict'].includes(k)) throw bad(`Unrecognized request argument supplied: ${p}.function.${k}`, `${p}.function.${k}`);
      }
      if (typeof f.name !== 'string' || !TOOL_NAME_RE.test(f.name)) {
        throw bad(`Invalid '${p}.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]{1,64}$', got ${JSON.stringify(f.name)}.`, `${p}.function.name`);
      }
      if (toolNames.has(f.name)) throw bad(`Duplicate function name '${f.name}' in tools (${p}.function.name).`, `${p}.function.name`);
      toolNames.add(f.name);
      if (f.description !== undefined && typeof f.description !== 'string') throw bad(`Invalid type for '${p}.function.description': expected a string.`, `${p}.function.description`);
      if (f.parameters !== undefined) {
        if (!isObj(f.parameters)) throw bad(`Invalid type for '${p}.function.parameters': expected an object, but got ${typeName(f.parameters)} instead.`, `${p}.function.parameters`);
        if (sc.require_object_schema && f.parameters.type !== 'object') {
          throw bad(`Invalid schema for function '${f.name}': schema must be a JSON Schema of 'type: "object"', got 'type: "${f.parameters.type ?? 'None'}"'.`, `${p}.function.parameters`);
        }
        checkSchemaKeywords(f.parameters, sc.reject_schema_keywords, `${p}.function.parameters`, (kw, at) => {
          throw bad(`Invalid schema for function '${f.name}': keyword '${kw}' is not supported (at ${at}).`, at);
        });
      }
    });
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null) {
    const tc = body.tool_choice;
    if (typeof tc === 'string') {
      if (!['none', 'auto', 'required'].includes(tc)) throw bad(`Invalid value: '${tc}'. Supported values are: 'none', 'auto', and 'required'.`, 'tool_choice');
      if (tc !== 'none' && toolNames.size === 0) throw bad("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.", 'tool_choice');
    } else if (isObj(tc) && tc.type === 'function' && isObj(tc.function) && typeof tc.function.name === 'string') {
      if (!toolNames.has(tc.function.name)) throw bad(`Invalid 'tool_choice': function '${tc.function.name}' is not among the provided tools.`, 'tool_choice.function.name');
    } else {
      throw bad("Invalid 'tool_choice': expected 'none', 'auto', 'required' or {\"type\":\"function\",\"function\":{\"name\":...}}.", 'tool_choice');
    }
  }
  if (body.parallel_tool_calls != null && toolNames.size === 0) {
    throw bad("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when 'tools' are specified.", 'parallel_tool_calls');
  }
}

// ---------------------------------------------------------------------------
// Provider modes (OpenAI protocol): reject like one real provider does, with its own words.
// Selected by the scenario's "provider"; each runs after the generic OpenAI validation.
// ---------------------------------------------------------------------------

// Thinking mode: on unless the request says {"thinking":{"type":"disabled"}}, for every model
// or only for the scenario's "thinking_models"; "thinking": false turns it off for all.
function providerThinks(body, sc) {
  if (sc.thinking === false) return false;
  if (isObj(body.thinking) && body.thinking.type === 'disabled') return false;
  return !Array.isArray(sc.thinking_models) || sc.thinking_models.includes(body.model);
}

function validateThinkingField(body) {
  if (body.thinking === undefined) return;
  if (!isObj(body.thinking) || !['enabled', 'disabled'].includes(body.thinking.type)) {
    throw bad("Invalid 'thinking': expected {\"type\": \"enabled\"} or {\"type\": \"disabled\"}.", 'thinking');
  }
}

// An assistant message with tool_calls whose reasoning_content is absent or empty.
function firstToolTurnWithoutReasoning(body) {
  return body.messages.findIndex((m) => m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length > 0
    && !(typeof m.reasoning_content === 'string' && m.reasoning_content !== ''));
}

// DeepSeek: max_tokens outside [1, N] (N = "max_tokens_range"[1], default 8192); in thinking
// mode, every earlier assistant turn with tool calls must carry its reasoning_content back.
// The documented maximum output of each provider's models (the provider's own table, kept here
// apart from the gateway's presets so that a wrong preset cannot agree with a wrong fake).
const DEEPSEEK_MAX_TOKENS = { 'deepseek-chat': 8192, 'deepseek-reasoner': 65536 };

export function validateDeepSeek(body, sc) {
  validateThinkingField(body);
  const [lo, hi] = sc.max_tokens_range ?? [1, DEEPSEEK_MAX_TOKENS[body.model] ?? 8192];
  for (const f of ['max_tokens', 'max_completion_tokens']) {
    const v = body[f];
    if (v !== undefined && v !== null && (v < lo || v > hi)) throw bad(`Invalid max_tokens value, the valid range of max_tokens is [${lo}, ${hi}]`);
  }
  if (providerThinks(body, sc) && firstToolTurnWithoutReasoning(body) >= 0) {
    throw bad('The `reasoning_content` in the thinking mode must be passed back to the API.');
  }
}

// Kimi (Moonshot): more than "max_tools" (default 128) tools; in thinking mode, an assistant
// tool-call message without reasoning_content.
export function validateKimi(body, sc) {
  validateThinkingField(body);
  const maxTools = sc.max_tools ?? 128;
  if (Array.isArray(body.tools) && body.tools.length > maxTools) throw bad(`a max of ${maxTools} tools can be supported`);
  const at = providerThinks(body, sc) ? firstToolTurnWithoutReasoning(body) : -1;
  if (at >= 0) throw bad(`thinking is enabled but reasoning_content is missing in assistant tool call message at index ${at}`);
}

// max_tokens above the model's limit ("max_tokens_limit" overrides the table, for every model).
function maxTokensOver(body, sc, table) {
  const limit = sc.max_tokens_limit ?? table[body.model];
  if (limit === undefined) return null;
  for (const f of ['max_tokens', 'max_completion_tokens']) {
    const v = body[f];
    if (v !== undefined && v !== null && v > limit) return { field: f, value: v, limit };
  }
  return null;
}

// Qwen (DashScope compatible mode): max_tokens above the model's range; enable_thinking must be
// a boolean and is refused on a non-streaming call; in thinking mode an assistant tool-call
// turn carries no reasoning requirement.
const QWEN_MAX_TOKENS = { 'qwen3-max': 65536, 'qwen-plus': 16384, 'qwen3-coder-plus': 65536 };
export function validateQwen(body, sc) {
  if (body.enable_thinking !== undefined && typeof body.enable_thinking !== 'boolean') {
    throw bad('<400> InternalError.Algo.InvalidParameter: The value of the enable_thinking parameter is restricted to True or False.', 'enable_thinking');
  }
  if (body.enable_thinking === true && body.stream !== true) {
    throw bad('<400> InternalError.Algo.InvalidParameter: parameter.enable_thinking must be set to false for non-streaming calls', 'enable_thinking');
  }
  const over = maxTokensOver(body, sc, QWEN_MAX_TOKENS);
  if (over) throw bad(`<400> InternalError.Algo.InvalidParameter: Range of max_tokens should be [1, ${over.limit}]`, over.field);
}

// Zhipu GLM: thinking is {"type": "enabled"|"disabled"}; max_tokens above the model's limit.
const ZHIPU_MAX_TOKENS = { 'glm-4.6': 131072, 'glm-4.5-air': 98304 };
export function validateZhipu(body, sc) {
  validateThinkingField(body);
  const over = maxTokensOver(body, sc, ZHIPU_MAX_TOKENS);
  if (over) throw bad(`API 调用参数有误，请检查文档。max_tokens 超出模型允许的最大值 ${over.limit}`, over.field);
}

// Doubao (Volcengine Ark): thinking is {"type": "enabled"|"disabled"|"auto"}; max_tokens above
// the model's limit.
const DOUBAO_MAX_TOKENS = { 'doubao-seed-1-6-250615': 32768 };
export function validateDoubao(body, sc) {
  if (body.thinking !== undefined && !(isObj(body.thinking) && ['enabled', 'disabled', 'auto'].includes(body.thinking.type))) {
    throw bad('The parameter `thinking.type` specified in the request are not valid: expected one of enabled, disabled, auto.', 'thinking.type');
  }
  const over = maxTokensOver(body, sc, DOUBAO_MAX_TOKENS);
  if (over) throw bad(`The parameter \`max_tokens\` specified in the request are not valid: ${over.value} exceeds the model's limit of ${over.limit}.`, over.field);
}

// OpenAI: max_tokens above the model's completion limit; more than 128 tools.
const OPENAI_MAX_TOKENS = { 'gpt-4o': 16384, 'gpt-4.1': 32768 };
export function validateOpenAIProvider(body, sc) {
  const over = maxTokensOver(body, sc, OPENAI_MAX_TOKENS);
  if (over) throw bad(`max_tokens is too large: ${over.value}. This model supports at most ${over.limit} completion tokens, whereas you provided ${over.value}.`, over.field);
  if (Array.isArray(body.tools) && body.tools.length > 128) {
    throw bad(`Invalid 'tools': array too long. Expected an array with maximum length 128, but got an array with length ${body.tools.length} instead.`, 'tools');
  }
}

// name -> { fields: extra top-level request fields the provider accepts, validate }
export const PROVIDER_MODES = {
  deepseek: { fields: ['thinking'], validate: validateDeepSeek },
  kimi: { fields: ['thinking'], validate: validateKimi },
  qwen: { fields: ['enable_thinking'], validate: validateQwen },
  zhipu: { fields: ['thinking'], validate: validateZhipu },
  doubao: { fields: ['thinking'], validate: validateDoubao },
  openai: { fields: [], validate: validateOpenAIProvider },
};

function validateProviderMode(body, sc) {
  if (sc.provider === undefined || sc.provider === null) return;
  PROVIDER_MODES[sc.provider].validate(body, sc);
}

// ---------------------------------------------------------------------------
// Anthropic Messages validation
// ---------------------------------------------------------------------------

function anthropicTextOf(content) {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((b) => {
    if (!isObj(b)) return '';
    if (b.type === 'text') return b.text ?? '';
    if (b.type === 'tool_result') return anthropicTextOf(b.content);
    return '';
  }).join('\n');
}

function validateAnthropicBlock(b, p, role) {
  if (!isObj(b)) throw bad(`${p}: Input should be a valid dictionary or object to extract fields from`);
  const known = Object.prototype.hasOwnProperty.call(ANTHROPIC_BLOCK_KEYS, b.type);
  if (!known) {
    throw bad(`${p}.type: Input tag '${b.type}' found using 'type' does not match any of the expected tags: ${Object.keys(ANTHROPIC_BLOCK_KEYS).map((t) => `'${t}'`).join(', ')}`);
  }
  const keys = ANTHROPIC_BLOCK_KEYS[b.type];
  if (keys) for (const k of Object.keys(b)) if (!keys.has(k)) throw bad(`${p}.${b.type}.${k}: Extra inputs are not permitted`);
  switch (b.type) {
    case 'text':
      if (typeof b.text !== 'string') throw bad(`${p}.text.text: Field required`);
      if (b.text === '') throw bad(`${p}: text content blocks must be non-empty`);
      break;
    case 'image':
      if (!isObj(b.source)) throw bad(`${p}.image.source: Field required`);
      break;
    case 'tool_use':
      if (role !== 'assistant') throw bad(`${p}: tool_use blocks are only allowed in assistant messages`);
      if (typeof b.id !== 'string' || b.id === '') throw bad(`${p}.tool_use.id: Field required`);
      if (typeof b.name !== 'string' || !TOOL_NAME_RE.test(b.name)) throw bad(`${p}.tool_use.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`);
      if (!isObj(b.input)) throw bad(`${p}.tool_use.input: Input should be a valid dictionary`);
      break;
    case 'tool_result':
      if (role !== 'user') throw bad(`${p}: tool_result blocks are only allowed in user messages`);
      if (typeof b.tool_use_id !== 'string' || b.tool_use_id === '') throw bad(`${p}.tool_result.tool_use_id: Field required`);
      if (b.content !== undefined && typeof b.content !== 'string') {
        if (!Array.isArray(b.content)) throw bad(`${p}.tool_result.content: Input should be a valid string or list`);
        b.content.forEach((c, k) => {
          const cp = `${p}.tool_result.content.${k}`;
          if (!isObj(c) || !['text', 'image', 'search_result', 'document'].includes(c.type)) {
            throw bad(`${cp}.type: Input tag '${isObj(c) ? c.type : typeName(c)}' found using 'type' does not match any of the expected tags: 'text', 'image', 'search_result', 'document'`);
          }
          if (c.type === 'text' && typeof c.text !== 'string') throw bad(`${cp}.text.text: Field required`);
        });
      }
      if (b.is_error !== undefined && typeof b.is_error !== 'boolean') throw bad(`${p}.tool_result.is_error: Input should be a valid boolean`);
      break;
    case 'thinking':
      if (role !== 'assistant') throw bad(`${p}: thinking blocks are only allowed in assistant messages`);
      if (typeof b.thinking !== 'string') throw bad(`${p}.thinking.thinking: Field required`);
      if (typeof b.signature !== 'string') throw bad(`${p}.thinking.signature: Field required`);
      break;
    case 'redacted_thinking':
      if (typeof b.data !== 'string') throw bad(`${p}.redacted_thinking.data: Field required`);
      break;
  }
}

export function validateAnthropic(body, sc) {
  if (!isObj(body)) throw bad('Request body must be a JSON object');
  const rejected = new Set(sc.reject_fields ?? []);
  for (const k of Object.keys(body)) {
    if (!ANTHROPIC_FIELDS.has(k) || rejected.has(k)) throw bad(`${k}: Extra inputs are not permitted`);
  }
  if (body.model === undefined) throw bad('model: Field required');
  if (typeof body.model !== 'string' || body.model === '') throw bad('model: Input should be a valid string');
  if (body.max_tokens === undefined) throw bad('max_tokens: Field required');
  if (!isInt(body.max_tokens) || body.max_tokens < 1) throw bad('max_tokens: Input should be a valid integer greater than or equal to 1');
  if (sc.max_output_tokens && body.max_tokens > sc.max_output_tokens) {
    throw bad(`max_tokens: ${body.max_tokens} > ${sc.max_output_tokens}, which is the maximum allowed number of output tokens for ${body.model}`);
  }
  if (body.stream !== undefined && typeof body.stream !== 'boolean') throw bad('stream: Input should be a valid boolean');
  if (body.temperature != null && !(typeof body.temperature === 'number' && body.temperature >= 0 && body.temperature <= 1)) {
    throw bad('temperature: Input should be less than or equal to 1');
  }
  if (body.stop_sequences !== undefined && !(Array.isArray(body.stop_sequences) && body.stop_sequences.every((s) => typeof s === 'string'))) {
    throw bad('stop_sequences: Input should be a valid list of strings');
  }
  if (body.system !== undefined) {
    if (typeof body.system !== 'string') {
      if (!Array.isArray(body.system)) throw bad('system: Input should be a valid string or list of text blocks');
      body.system.forEach((b, i) => {
        if (!isObj(b) || b.type !== 'text') throw bad(`system.${i}.type: Input should be 'text'`);
        validateAnthropicBlock(b, `system.${i}`, 'system');
      });
    }
  }
  if (body.thinking !== undefined) {
    const t = body.thinking;
    if (!isObj(t) || !['enabled', 'disabled', 'adaptive'].includes(t.type)) throw bad("thinking.type: Input should be 'enabled', 'disabled' or 'adaptive'");
    if (t.type === 'enabled') {
      if (!isInt(t.budget_tokens)) throw bad('thinking.enabled.budget_tokens: Field required');
      if (t.budget_tokens < 1024) throw bad('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
      if (t.budget_tokens >= body.max_tokens) throw bad('`max_tokens` must be greater than `thinking.budget_tokens`');
    }
  }

  if (!Array.isArray(body.messages)) throw bad('messages: Field required');
  if (body.messages.length === 0) throw bad('messages: at least one message is required');
  body.messages.forEach((m, i) => {
    const p = `messages.${i}`;
    if (!isObj(m)) throw bad(`${p}: Input should be a valid dictionary`);
    for (const k of Object.keys(m)) if (k !== 'role' && k !== 'content') throw bad(`${p}.${k}: Extra inputs are not permitted`);
    if (m.role !== 'user' && m.role !== 'assistant') throw bad(`${p}.role: Input should be 'user' or 'assistant'`);
    if (m.content === undefined) throw bad(`${p}.content: Field required`);
    const last = i === body.messages.length - 1;
    if ((m.content === '' || (Array.isArray(m.content) && m.content.length === 0)) && !(last && m.role === 'assistant')) {
      throw bad(`${p}: all messages must have non-empty content except for the optional final assistant message`);
    }
    if (typeof m.content !== 'string') {
      if (!Array.isArray(m.content)) throw bad(`${p}.content: Input should be a valid string or list`);
      m.content.forEach((b, j) => validateAnthropicBlock(b, `${p}.content.${j}`, m.role));
    }
  });
  // tool_use / tool_result pairing
  body.messages.forEach((m, i) => {
    const blocks = Array.isArray(m.content) ? m.content : [];
    if (m.role === 'assistant') {
      const uses = blocks.filter((b) => b.type === 'tool_use').map((b) => b.id);
      if (uses.length === 0) return;
      const next = body.messages[i + 1];
      const answered = new Set(next && next.role === 'user' && Array.isArray(next.content)
        ? next.content.filter((b) => b.type === 'tool_result').map((b) => b.tool_use_id) : []);
      const missing = uses.filter((id) => !answered.has(id));
      if (missing.length) {
        throw bad(`messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`);
      }
    } else {
      const prev = body.messages[i - 1];
      const uses = new Set(prev && prev.role === 'assistant' && Array.isArray(prev.content)
        ? prev.content.filter((b) => b.type === 'tool_use').map((b) => b.id) : []);
      const seen = new Set();
      blocks.forEach((b, j) => {
        if (b.type !== 'tool_result') return;
        if (!uses.has(b.tool_use_id)) {
          throw bad(`messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${b.tool_use_id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`);
        }
        if (seen.has(b.tool_use_id)) throw bad(`messages.${i}.content.${j}: duplicate \`tool_result\` for tool_use_id ${b.tool_use_id}`);
        seen.add(b.tool_use_id);
      });
    }
  });

  const toolNames = new Set();
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) throw bad('tools: Input should be a valid list');
    body.tools.forEach((t, i) => {
      const p = `tools.${i}`;
      if (!isObj(t)) throw bad(`${p}: Input should be a valid dictionary`);
      const custom = t.type === undefined || t.type === 'custom';
      if (typeof t.name !== 'string' || !TOOL_NAME_RE.test(t.name)) throw bad(`${p}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`);
      if (toolNames.has(t.name)) throw bad(`${p}: Tool names must be unique.`);
      toolNames.add(t.name);
      if (!custom) return; // server tool (web_search_..., bash_..., ...): not checked further
      for (const k of Object.keys(t)) {
        if (!['type', 'name', 'description', 'input_schema', 'cache_control'].includes(k)) throw bad(`${p}.custom.${k}: Extra inputs are not permitted`);
      }
      if (t.description !== undefined && typeof t.description !== 'string') throw bad(`${p}.custom.description: Input should be a valid string`);
      if (!isObj(t.input_schema)) throw bad(`${p}.custom.input_schema: Field required`);
      if (t.input_schema.type !== 'object') throw bad(`${p}.custom.input_schema.type: Input should be 'object'`);
      checkSchemaKeywords(t.input_schema, sc.reject_schema_keywords, `${p}.custom.input_schema`, (kw, at) => {
        throw bad(`${at}: JSON schema keyword '${kw}' is not supported`);
      });
    });
  }
  if (body.tool_choice !== undefined) {
    const tc = body.tool_choice;
    if (!isObj(tc) || !['auto', 'any', 'tool', 'none'].includes(tc.type)) throw bad("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'");
    if (tc.type === 'tool') {
      if (typeof tc.name !== 'string') throw bad('tool_choice.tool.name: Field required');
      if (!toolNames.has(tc.name)) throw bad(`tool_choice.tool.name: tool '${tc.name}' not found in tools`);
    }
    if (tc.type !== 'none' && tc.type !== 'auto' && toolNames.size === 0) throw bad('tool_choice: tool_choice requires tools');
  }
}

// ---------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------

const FINISH_TO_STOP = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use', content_filter: 'refusal' };

function normalizeToolCalls(turn, protocol) {
  return (turn.tool_calls ?? []).map((tc, i) => {
    const args = typeof tc.arguments === 'string' ? tc.arguments : JSON.stringify(tc.arguments ?? tc.input ?? {});
    return { id: tc.id ?? (protocol === 'anthropic' ? `toolu_fake_${i + 1}` : `call_fake_${i + 1}`), name: tc.name, arguments: args };
  });
}

function computeUsage(turn, reqBody, calls) {
  const u = turn.usage ?? {};
  const outText = (turn.reasoning ?? '') + (turn.text ?? '') + calls.map((c) => c.name + c.arguments).join('');
  const input = u.input_tokens ?? u.prompt_tokens ?? approxTokens(JSON.stringify(reqBody.messages ?? reqBody.input ?? ''));
  const output = u.output_tokens ?? u.completion_tokens ?? approxTokens(outText);
  return {
    input_tokens: input,
    output_tokens: output,
    cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
    cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
    reasoning_tokens: u.reasoning_tokens ?? (turn.reasoning ? approxTokens(turn.reasoning) : 0),
  };
}

// Each provider mode reports cached input where that provider does: DeepSeek as
// prompt_cache_hit_tokens / prompt_cache_miss_tokens, Kimi as usage.cached_tokens, the others
// as prompt_tokens_details.cached_tokens.
function openaiUsage(u, sc = {}) {
  const prompt = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens;
  const base = {
    prompt_tokens: prompt,
    completion_tokens: u.output_tokens,
    total_tokens: prompt + u.output_tokens,
    completion_tokens_details: { reasoning_tokens: u.reasoning_tokens },
  };
  if (sc.provider === 'deepseek') {
    return { ...base, prompt_cache_hit_tokens: u.cache_read_input_tokens, prompt_cache_miss_tokens: prompt - u.cache_read_input_tokens };
  }
  if (sc.provider === 'kimi') return { ...base, cached_tokens: u.cache_read_input_tokens };
  return { ...base, prompt_tokens_details: { cached_tokens: u.cache_read_input_tokens } };
}

function anthropicUsage(u) {
  return {
    input_tokens: u.input_tokens,
    cache_creation_input_tokens: u.cache_creation_input_tokens,
    cache_read_input_tokens: u.cache_read_input_tokens,
    output_tokens: u.output_tokens,
  };
}

function finishReasonOf(turn, calls) {
  const st = turn.stream ?? {};
  return st.wrong_finish_reason ?? turn.finish_reason ?? (calls.length ? 'tool_calls' : 'stop');
}

function stopReasonOf(turn, calls) {
  const st = turn.stream ?? {};
  const w = st.wrong_finish_reason ?? turn.finish_reason;
  if (turn.stop_reason) return turn.stop_reason;
  if (w) return FINISH_TO_STOP[w] ?? w;
  return calls.length ? 'tool_use' : 'end_turn';
}

// OpenAI non-streaming body
function openaiCompletion(turn, reqBody, sc, ctx) {
  const calls = normalizeToolCalls(turn, 'openai');
  const msg = { role: 'assistant', content: turn.text ?? (calls.length ? null : ''), refusal: null };
  if (turn.reasoning) msg[sc.reasoning_field ?? 'reasoning_content'] = turn.reasoning;
  if (calls.length) msg.tool_calls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  return {
    id: ctx.id, object: 'chat.completion', created: ctx.created, model: ctx.model,
    system_fingerprint: 'fp_fake',
    choices: [{ index: 0, message: msg, logprobs: null, finish_reason: finishReasonOf(turn, calls) }],
    ...(turn.report_usage === false ? {} : { usage: openaiUsage(computeUsage(turn, reqBody, calls), sc) }),
  };
}

// OpenAI streaming chunks: array of objects, then the literal '[DONE]'.
function openaiChunks(turn, reqBody, sc, ctx) {
  const st = turn.stream ?? {};
  const size = st.chunk_size ?? 8;
  const calls = normalizeToolCalls(turn, 'openai');
  const wantUsage = turn.report_usage === false ? false
    : st.include_usage === 'always' ? true : st.include_usage === 'never' ? false
      : !!(reqBody.stream_options && reqBody.stream_options.include_usage);
  const usage = openaiUsage(computeUsage(turn, reqBody, calls), sc);
  const base = () => {
    const c = { id: ctx.id, object: 'chat.completion.chunk', created: ctx.created, model: ctx.model, system_fingerprint: 'fp_fake', choices: [] };
    if (wantUsage && st.usage_after_finish !== false) c.usage = null;
    return c;
  };
  const chunk = (delta, finish = null) => {
    const c = base();
    c.choices.push({ index: 0, delta, logprobs: null, finish_reason: finish });
    return c;
  };
  const out = [];
  out.push(chunk({ role: 'assistant', content: turn.text !== undefined || !calls.length ? '' : null, refusal: null }));
  const rf = sc.reasoning_field ?? 'reasoning_content';
  for (const piece of splitChunks(turn.reasoning, size)) out.push(chunk({ [rf]: piece }));
  for (const piece of splitChunks(turn.text, size)) out.push(chunk({ content: piece }));

  const perCall = calls.map((c, index) => {
    const pieces = st.split_tool_arguments === false ? [c.arguments] : splitChunks(c.arguments, size);
    const head = { index, id: c.id, type: 'function', function: { name: c.name, arguments: '' } };
    const frag = (a) => ({ index, function: { arguments: a } });
    if (st.late_tool_name) {
      // arguments start arriving before the id and name
      const first = pieces.length ? pieces[0] : '';
      return [frag(first), { index, id: c.id, type: 'function', function: { name: c.name } }, ...pieces.slice(1).map(frag)];
    }
    if (st.split_tool_arguments === false) return [{ ...head, function: { name: c.name, arguments: c.arguments } }];
    return [head, ...pieces.map(frag)];
  });
  if (st.interleave_parallel_tools) {
    const max = Math.max(0, ...perCall.map((l) => l.length));
    for (let k = 0; k < max; k++) for (const l of perCall) if (k < l.length) out.push(chunk({ tool_calls: [l[k]] }));
  } else {
    for (const l of perCall) for (const d of l) out.push(chunk({ tool_calls: [d] }));
  }
  const fin = chunk({}, finishReasonOf(turn, calls));
  if (wantUsage && st.usage_after_finish === false) fin.usage = usage;
  out.push(fin);
  if (wantUsage && st.usage_after_finish !== false) {
    const u = base();
    u.usage = usage;
    out.push(u);
  }
  out.push('[DONE]');
  return out;
}

function anthropicMessage(turn, reqBody, sc, ctx) {
  const calls = normalizeToolCalls(turn, 'anthropic');
  const content = [];
  if (turn.reasoning) content.push({ type: 'thinking', thinking: turn.reasoning, signature: turn.signature ?? 'sig-fake' });
  if (turn.text !== undefined && turn.text !== '') content.push({ type: 'text', text: turn.text });
  for (const c of calls) content.push({ type: 'tool_use', id: c.id, name: c.name, input: JSON.parse(c.arguments || '{}') });
  return {
    id: ctx.id, type: 'message', role: 'assistant', model: ctx.model, content,
    stop_reason: stopReasonOf(turn, calls), stop_sequence: null,
    ...(turn.report_usage === false ? {} : { usage: anthropicUsage(computeUsage(turn, reqBody, calls)) }),
  };
}

// Anthropic streaming events: array of {event, data}
function anthropicEvents(turn, reqBody, sc, ctx) {
  const st = turn.stream ?? {};
  const size = st.chunk_size ?? 8;
  const calls = normalizeToolCalls(turn, 'anthropic');
  const u = computeUsage(turn, reqBody, calls);
  const ev = (event, data) => ({ event, data: { type: event, ...data } });
  const reported = turn.report_usage !== false;
  const out = [];
  out.push(ev('message_start', {
    message: {
      id: ctx.id, type: 'message', role: 'assistant', model: ctx.model, content: [],
      stop_reason: null, stop_sequence: null,
      ...(reported ? { usage: { ...anthropicUsage(u), output_tokens: 1 } } : {}),
    },
  }));
  if (st.ping !== false) out.push(ev('ping', {}));
  let index = 0;
  if (turn.reasoning) {
    out.push(ev('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } }));
    for (const piece of splitChunks(turn.reasoning, size)) out.push(ev('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: piece } }));
    out.push(ev('content_block_delta', { index, delta: { type: 'signature_delta', signature: turn.signature ?? 'sig-fake' } }));
    out.push(ev('content_block_stop', { index }));
    index++;
  }
  if (turn.text !== undefined && turn.text !== '') {
    out.push(ev('content_block_start', { index, content_block: { type: 'text', text: '' } }));
    for (const piece of splitChunks(turn.text, size)) out.push(ev('content_block_delta', { index, delta: { type: 'text_delta', text: piece } }));
    out.push(ev('content_block_stop', { index }));
    index++;
  }
  for (const c of calls) {
    out.push(ev('content_block_start', { index, content_block: { type: 'tool_use', id: c.id, name: c.name, input: {} } }));
    const pieces = st.split_tool_arguments === false ? [c.arguments] : splitChunks(c.arguments, size);
    for (const piece of pieces) out.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } }));
    out.push(ev('content_block_stop', { index }));
    index++;
  }
  out.push(ev('message_delta', {
    delta: { stop_reason: stopReasonOf(turn, calls), stop_sequence: null },
    ...(reported ? { usage: { ...anthropicUsage(u) } } : {}),
  }));
  out.push(ev('message_stop', {}));
  return out;
}

// The shared answer helpers the Responses mode (responses_mode.mjs) builds on.
const responsesHelpers = { normalizeToolCalls, computeUsage, splitChunks };

// ---------------------------------------------------------------------------
// text-tools mode: the model writes its tool calls as text, as a self-hosted model served
// without a tool-call parser does. The request is validated as strictly as ever; only the
// answer changes: the turn's tool_calls become text in one model family's envelope, and the
// answer carries no native tool call (finish_reason "stop", stop_reason "end_turn").
// ---------------------------------------------------------------------------

export const TEXT_TOOL_STYLES = ['hermes', 'qwen3_coder', 'glm', 'deepseek', 'kimi', 'minimax'];

// Values of XML-style envelopes: strings as they are, anything else as JSON.
const textToolValue = (v) => (typeof v === 'string' ? v : JSON.stringify(v));

function textToolParams(call) {
  try {
    return Object.entries(JSON.parse(call.arguments || '{}'));
  } catch {
    throw new Error(`fake upstream: text_tools style needs JSON arguments for '${call.name}', got ${call.arguments}`);
  }
}

// calls: [{name, arguments (a string, written verbatim in the JSON envelopes)}]
export function renderTextToolCalls(calls, style) {
  switch (style) {
    case 'hermes':
      return calls.map((c) => `<tool_call>\n{"name": ${JSON.stringify(c.name)}, "arguments": ${c.arguments || '{}'}}\n</tool_call>`).join('\n');
    case 'qwen3_coder':
      return calls.map((c) => `<tool_call>\n<function=${c.name}>\n`
        + textToolParams(c).map(([k, v]) => `<parameter=${k}>\n${textToolValue(v)}\n</parameter>\n`).join('')
        + '</function>\n</tool_call>').join('\n');
    case 'glm':
      return calls.map((c) => `<tool_call>${c.name}\n`
        + textToolParams(c).map(([k, v]) => `<arg_key>${k}</arg_key>\n<arg_value>${textToolValue(v)}</arg_value>\n`).join('')
        + '</tool_call>').join('\n');
    case 'deepseek':
      return '<｜tool▁calls▁begin｜>'
        + calls.map((c) => `<｜tool▁call▁begin｜>${c.name}<｜tool▁sep｜>${c.arguments || '{}'}<｜tool▁call▁end｜>`).join('')
        + '<｜tool▁calls▁end｜>';
    case 'kimi':
      return '<|tool_calls_section_begin|>'
        + calls.map((c, i) => `<|tool_call_begin|>functions.${c.name}:${i}<|tool_call_argument_begin|>${c.arguments || '{}'}<|tool_call_end|>`).join('')
        + '<|tool_calls_section_end|>';
    case 'minimax':
      return '<minimax:tool_call>\n'
        + calls.map((c) => `<invoke name="${c.name}">\n`
          + textToolParams(c).map(([k, v]) => `<parameter name="${k}">${textToolValue(v)}</parameter>\n`).join('')
          + '</invoke>\n').join('')
        + '</minimax:tool_call>';
    default:
      throw new Error(`fake upstream: text_tools must be one of ${TEXT_TOOL_STYLES.join(', ')}, got '${style}'`);
  }
}

// Refuses a scenario whose text_tools (top level or in a turn) names no known style.
function checkTextToolStyles(sc) {
  for (const [where, style] of [['text_tools', sc.text_tools], ...(sc.turns ?? []).map((t, i) => [`turns[${i}].text_tools`, t.text_tools])]) {
    if (style !== undefined && style !== null && !TEXT_TOOL_STYLES.includes(style))
      throw new Error(`fake upstream: ${where} must be one of ${TEXT_TOOL_STYLES.join(', ')}, got '${style}'`);
  }
}

// The turn as a text-tools model answers it (the turn itself when the mode is off).
function asTextToolsTurn(turn, sc) {
  const style = turn.text_tools === undefined ? sc.text_tools : turn.text_tools;
  if (!style || !(turn.tool_calls ?? []).length) return turn;
  const written = renderTextToolCalls(normalizeToolCalls(turn, 'openai'), style);
  const { tool_calls: _calls, ...rest } = turn;
  return { ...rest, text: turn.text ? `${turn.text}\n\n${written}` : written };
}

// ---------------------------------------------------------------------------
// Errors in each protocol's shape
// ---------------------------------------------------------------------------

const ANTHROPIC_ERROR_TYPES = {
  400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error',
  413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error', 529: 'overloaded_error',
};

function openaiErrorBody(status, message, param = null, type = null, code = null) {
  const t = type ?? (status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error');
  const c = code ?? (status === 401 ? 'invalid_api_key' : status === 429 ? 'rate_limit_exceeded' : null);
  return { error: { message, type: t, param, code: c } };
}

function anthropicErrorBody(status, message, type = null) {
  return { type: 'error', error: { type: type ?? ANTHROPIC_ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'), message } };
}

function errorBody(protocol, status, message, param = null, type = null, code = null) {
  return protocol === 'anthropic' ? anthropicErrorBody(status, message, type) : openaiErrorBody(status, message, param, type, code);
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

function lastUserText(protocol, body) {
  if (protocol === 'responses') return responsesLastUserText(body);
  if (protocol === 'gemini') { // the last user content: its text and function responses
    const user = (Array.isArray(body?.contents) ? body.contents : []).filter((c) => isObj(c) && c.role !== 'model').pop();
    return (Array.isArray(user?.parts) ? user.parts : []).map((p) => (isObj(p) ? p.text ?? (p.functionResponse ? JSON.stringify(p.functionResponse) : '') : '')).join('\n');
  }
  const msgs = Array.isArray(body?.messages) ? body.messages : [];
  let start = 0;
  for (let i = msgs.length - 1; i >= 0; i--) if (isObj(msgs[i]) && msgs[i].role === 'assistant') { start = i + 1; break; }
  const parts = [];
  for (const m of msgs.slice(start)) {
    if (!isObj(m) || !(m.role === 'user' || m.role === 'tool')) continue;
    parts.push(protocol === 'anthropic' ? anthropicTextOf(m.content) : openaiTextOf(m.content));
  }
  return parts.join('\n');
}

function redactHeaders(h) {
  const out = {};
  for (const [k, v] of Object.entries(h)) if (k !== 'authorization' && k !== 'x-api-key') out[k] = v;
  return out;
}

export async function startFakeUpstream({ scenario, port = 0, record = null, log = false, tlsCert = null, tlsKey = null } = {}) {
  const sc = loadScenario(scenario);
  if (sc.provider != null && !PROVIDER_MODES[sc.provider]) {
    throw new Error(`fake upstream: unknown provider mode "${sc.provider}" (known: ${Object.keys(PROVIDER_MODES).join(', ')})`);
  }
  checkTextToolStyles(sc);
  const turns = (sc.turns ?? []).map((t, i) => ({ ...t, _i: i, _left: t.times === 0 ? Infinity : (t.times ?? 1) }));
  const requests = [];
  let counter = 0;
  const sockets = new Set();
  const timers = new Set();
  if (record) fs.mkdirSync(record, { recursive: true });

  const delay = (ms) => new Promise((r) => {
    if (!ms) return r();
    const t = setTimeout(() => { timers.delete(t); r(); }, ms);
    timers.add(t);
  });

  // Answers held by `hold_at` until a POST /__release lets one go on (a release that comes
  // first is kept for the next hold). A held answer whose client (the gateway) hung up leaves.
  const held = [];
  let releases = 0;
  const hold = (res) => new Promise((r) => {
    if (releases > 0) { releases--; return r(); }
    held.push(r);
    res.once('close', () => {
      const at = held.indexOf(r);
      if (at >= 0) { held.splice(at, 1); r(); }
    });
  });
  const release = () => { if (held.length) held.shift()(); else releases++; };

  const pickTurn = (protocol, body) => {
    const hay = lastUserText(protocol, body);
    const usable = (t) => t._left > 0 && (!t.protocol || t.protocol === protocol) && (!t.match_model || t.match_model === body.model);
    let t = turns.find((x) => usable(x) && x.match !== undefined && hay.includes(x.match));
    if (!t) t = turns.find((x) => usable(x) && x.match === undefined);
    if (t) t._left--;
    return t;
  };

  const send = (res, status, obj, headers = {}) => {
    const body = typeof obj === 'string' ? obj : JSON.stringify(obj);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };

  const writeRecord = (rec) => {
    if (!record) return;
    const file = path.join(record, `request-${String(rec.n).padStart(3, '0')}.json`);
    fs.writeFileSync(file, JSON.stringify(rec, null, 2));
  };

  const handleApi = async (req, res, protocol, raw) => {
    const n = ++counter;
    let body;
    let parseError = null;
    try { body = raw.length ? JSON.parse(raw) : undefined; } catch (e) { parseError = e; body = raw; }
    const rec = { n, time: new Date().toISOString(), method: req.method, path: req.url, protocol, headers: redactHeaders(req.headers), body, status: null, turn: null };
    requests.push(rec);
    const finish = (status) => { rec.status = status; writeRecord(rec); };

    // keys the provider answers in their own way (key_errors): an expired or broken key
    const presented = protocol === 'openai' || protocol === 'responses' ? (req.headers.authorization ?? '').replace(/^Bearer /, '') : req.headers['x-api-key'];
    const keyError = presented ? sc.key_errors?.[presented] : undefined;
    if (keyError) {
      const st = keyError.status ?? 400;
      finish(st);
      return send(res, st, protocol !== 'anthropic' ? openaiErrorBody(st, keyError.message ?? 'API key not valid') : anthropicErrorBody(st, keyError.message ?? 'API key not valid'));
    }

    // auth
    const key = sc.api_key ?? DEFAULT_API_KEY;
    if ((protocol === 'openai' || protocol === 'responses') && sc.require_key === false) {
      // A local server (Ollama, LM Studio) that takes no key: a request needs none.
    } else if (protocol === 'openai' || protocol === 'responses') {
      const auth = req.headers.authorization ?? '';
      if (auth !== `Bearer ${key}`) {
        finish(401);
        const shown = auth.startsWith('Bearer ') ? auth.slice(7) : '';
        return send(res, 401, openaiErrorBody(401, shown ? `Incorrect API key provided: ${shown.slice(0, 6)}***. You can find your API key at https://platform.openai.com/account/api-keys.` : "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."));
      }
    } else {
      const viaHeader = req.headers['x-api-key'];
      const viaBearer = sc.anthropic_accept_bearer && req.headers.authorization === `Bearer ${key}`;
      if (viaHeader !== key && !viaBearer) {
        finish(401);
        return send(res, 401, anthropicErrorBody(401, viaHeader ? 'invalid x-api-key' : 'x-api-key header is required'));
      }
      if (sc.require_anthropic_version !== false && !req.headers['anthropic-version']) {
        finish(400);
        return send(res, 400, anthropicErrorBody(400, 'anthropic-version: header is required'));
      }
    }

    // validation
    try {
      if (parseError) throw bad(protocol === 'anthropic' ? 'There was an error parsing the body of your request as JSON' : 'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library correctly.)');
      if (protocol === 'openai') { validateOpenAI(body, sc); validateProviderMode(body, sc); } else if (protocol === 'responses') validateResponses(body, sc); else validateAnthropic(body, sc);
    } catch (e) {
      if (!(e instanceof ApiError) && !(e instanceof ResponsesError)) throw e;
      rec.error = e.message;
      finish(e.status);
      return send(res, e.status, errorBody(protocol, e.status, e.message, e.param));
    }

    const turn = pickTurn(protocol, body);
    if (!turn) {
      const msg = `fake upstream: no scripted turn left for request #${n}`;
      rec.error = msg;
      finish(500);
      return send(res, 500, errorBody(protocol, 500, msg));
    }
    rec.turn = turn._i;
    const st = turn.stream ?? {};
    await delay(st.silence_ms_before ?? turn.silence_ms_before ?? 0);
    if (res.destroyed) return;

    if (turn.raw) {
      finish(turn.raw.status ?? 200);
      const b = turn.raw.body ?? '';
      res.writeHead(turn.raw.status ?? 200, turn.raw.headers ?? { 'content-type': 'application/json' });
      return res.end(typeof b === 'string' ? b : JSON.stringify(b));
    }
    if (turn.error) {
      const er = turn.error;
      const status = er.status ?? 500;
      finish(status);
      const headers = {};
      if (er.retry_after !== undefined) headers['retry-after'] = String(er.retry_after);
      const b = er.body ?? errorBody(protocol, status, er.message ?? 'fake upstream error', er.param ?? null, er.type ?? null, er.code ?? null);
      return send(res, status, b, headers);
    }

    const ctx = {
      id: protocol === 'anthropic' ? randId('msg_fake') : protocol === 'responses' ? randId('resp_fake') : randId('chatcmpl-fake'),
      created: Math.floor(Date.now() / 1000),
      model: turn.model ?? sc.response_model ?? body.model,
    };

    if (!body.stream) {
      const spoken = asTextToolsTurn(turn, sc);
      const full = protocol === 'anthropic' ? anthropicMessage(spoken, body, sc, ctx)
        : protocol === 'responses' ? responsesWhole(spoken, body, ctx, responsesHelpers) : openaiCompletion(spoken, body, sc, ctx);
      finish(200);
      if (st.hold_at !== undefined) {
        await hold(res);
        if (res.destroyed) return;
      }
      if (st.fail_after_chunks !== undefined) {
        // non-streaming drop: send headers and half of the body, then cut the connection
        const s = JSON.stringify(full);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(s) });
        res.write(s.slice(0, Math.floor(s.length / 2)), () => res.socket?.destroy());
        return;
      }
      return send(res, 200, full);
    }

    // streaming
    finish(200);
    const headers = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' };
    res.writeHead(200, headers);
    res.flushHeaders?.();
    const spoken = asTextToolsTurn(turn, sc);
    const scripted = protocol === 'anthropic' ? anthropicEvents(spoken, body, sc, ctx)
      : protocol === 'responses' ? responsesEvents(spoken, body, ctx, responsesHelpers) : openaiChunks(spoken, body, sc, ctx);
    const events = protocol === 'anthropic' || protocol === 'responses'
      ? scripted.map((e) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`)
      : scripted.map((c) => `data: ${typeof c === 'string' ? c : JSON.stringify(c)}\n\n`);
    // "end": the event that ends the answer (Anthropic message_delta, OpenAI finish chunk).
    const endIndex = protocol === 'anthropic' || protocol === 'responses'
      ? scripted.findIndex((e) => e.event === 'message_delta' || e.event === 'response.completed' || e.event === 'response.incomplete')
      : scripted.findIndex((c) => typeof c === 'object' && c.choices.length && c.choices[0].finish_reason);
    const holdPoints = [].concat(st.hold_at ?? []).map((h) => (h === 'end' ? endIndex : h)).sort((a, b) => a - b);
    if (st.error_after_chunks !== undefined) {
      const errEv = protocol === 'responses' ? responsesErrorEvent(st.error_message ?? 'The server had an error while processing your request.')
        : protocol === 'anthropic'
        ? `event: error\ndata: ${JSON.stringify(anthropicErrorBody(529, st.error_message ?? 'Overloaded'))}\n\n`
        : `data: ${JSON.stringify(openaiErrorBody(500, st.error_message ?? 'The server had an error while processing your request.'))}\n\n`;
      events.splice(st.error_after_chunks, events.length, errEv);
    }
    const failAfter = st.fail_after_chunks ?? Infinity;
    // events_per_write events go out in one write (one TCP segment on loopback), delay_ms apart.
    const perWrite = Math.max(1, Math.floor(st.events_per_write ?? 1));
    for (let k = 0; k < events.length; k += perWrite) {
      if (k >= failAfter) break;
      if (k > 0 || st.delay_first) await delay(st.delay_ms ?? 0);
      if (res.destroyed || res.writableEnded) return;
      const end = Math.min(k + perWrite, events.length, failAfter);
      let from = k;
      for (const h of holdPoints.filter((x) => x >= k && x < end)) {
        if (h > from) res.write(events.slice(from, h).join(''));
        await hold(res);
        if (res.destroyed || res.writableEnded) return;
        from = h;
      }
      res.write(events.slice(from, end).join(''));
    }
    if (failAfter < events.length) {
      await new Promise((r) => res.write('', r));
      res.socket?.destroy();
      return;
    }
    res.end();
  };

  // Gemini mode (gemini_mode.mjs): its own route, key header and answer shape; turns are shared.
  const issuedSignatures = new Set();
  const handleGemini = async (req, res, route, raw) => {
    const n = ++counter;
    let body;
    let parseError = null;
    try { body = raw.length ? JSON.parse(raw) : undefined; } catch (e) { parseError = e; body = raw; }
    const rec = { n, time: new Date().toISOString(), method: req.method, path: (req.url ?? '').replace(/([?&]key=)[^&]*/, '$1REDACTED'), protocol: 'gemini', model: route.model, headers: redactHeaders(req.headers), body, status: null, turn: null };
    requests.push(rec);
    const finish = (status) => { rec.status = status; writeRecord(rec); };
    const fail = (code, message) => { rec.error = message; finish(code); return send(res, code, geminiErrorBody(code, message)); };
    const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    if (query.has('key')) return fail(400, 'fake upstream: the API key came in the URL (?key=): send it in the x-goog-api-key header');
    if (req.headers['x-goog-api-key'] !== (sc.api_key ?? DEFAULT_API_KEY)) return fail(400, 'API key not valid. Please pass a valid API key.');
    const stream = route.method === 'streamGenerateContent';
    if (!stream && route.method !== 'generateContent') return fail(404, `fake upstream: no method ${route.method}`);
    if (stream && query.get('alt') !== 'sse') return fail(400, 'fake upstream: streamGenerateContent without alt=sse');
    try {
      if (parseError) throw new GeminiError(400, 'Invalid JSON payload received.');
      validateGemini(body, route.model, issuedSignatures);
    } catch (e) {
      if (!(e instanceof GeminiError)) throw e;
      return fail(e.code, e.message);
    }
    const turn = pickTurn('gemini', { ...body, model: route.model });
    if (!turn) return fail(500, `fake upstream: no scripted turn left for request #${n}`);
    rec.turn = turn._i;
    const st = turn.stream ?? {};
    await delay(st.silence_ms_before ?? turn.silence_ms_before ?? 0);
    if (res.destroyed) return;
    if (turn.error) {
      const status = turn.error.status ?? 500;
      finish(status);
      return send(res, status, turn.error.body ?? geminiErrorBody(status, turn.error.message ?? 'fake upstream error'));
    }
    const ctx = { id: randId('resp-fake'), model: turn.model ?? sc.response_model ?? route.model, gemini3: /gemini-3/.test(route.model) };
    const sign = () => { const s = randId('sig-gemini-'); issuedSignatures.add(s); return s; };
    if (turn.signature) issuedSignatures.add(turn.signature);
    const chunks = geminiChunks(turn, body, ctx, sign);
    finish(200);
    if (!stream) return send(res, 200, geminiWhole(chunks));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const frames = chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`);
    if (st.error_after_chunks !== undefined) frames.splice(st.error_after_chunks, frames.length, `data: ${JSON.stringify(geminiErrorBody(503, st.error_message ?? 'The model is overloaded. Please try again later.'))}\r\n\r\n`);
    for (let k = 0; k < frames.length; k++) {
      if (k > 0) await delay(st.delay_ms ?? 0);
      if (res.destroyed) return;
      res.write(frames[k]);
    }
    res.end();
  };

  // https mode (--tls-cert/--tls-key, PEM files): the same routes over TLS.
  const tlsOptions = tlsCert ? { cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) } : null;
  const createServer = (handler) => (tlsOptions ? https.createServer(tlsOptions, handler) : http.createServer(handler));
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      // A client that uses this server as its HTTP proxy sends the absolute URL (the request's
      // record keeps it in `path`); serve it like the path it names.
      const url = (req.url ?? '').split('?')[0].replace(/^https?:\/\/[^/]+/, '');
      const go = async () => {
        if (req.method === 'GET' && url === '/__requests') return send(res, 200, requests);
        if (req.method === 'POST' && url === '/__reset') { requests.length = 0; return send(res, 200, { ok: true }); }
        if (req.method === 'POST' && url === '/__release') { release(); return send(res, 200, { ok: true }); }
        if (req.method === 'GET' && url === '/__held') return send(res, 200, { held: held.length });
        if (req.method === 'POST' && url === '/v1/chat/completions') return handleApi(req, res, 'openai', raw);
        if (req.method === 'POST' && url === '/anthropic/v1/messages') return handleApi(req, res, 'anthropic', raw);
        if (req.method === 'POST' && url === '/v1/responses') return handleApi(req, res, 'responses', raw);
        if (req.method === 'GET' && url === '/v1/models') {
          const key = sc.api_key ?? DEFAULT_API_KEY;
          if (req.headers.authorization !== `Bearer ${key}`) return send(res, 401, openaiErrorBody(401, 'Incorrect API key provided.'));
          const ids = sc.models ?? ['fake-model'];
          return send(res, 200, { object: 'list', data: ids.map((id) => ({ id, object: 'model', created: 1700000000, owned_by: 'fake-upstream' })) });
        }
        // Account balance at the provider's real path, in its own shape (scenario "balance").
        const bal = sc.balance;
        const BALANCE_PATHS = { deepseek: '/user/balance', moonshot: '/v1/users/me/balance', siliconflow: '/v1/user/info', openrouter: '/api/v1/credits' };
        if (req.method === 'GET' && bal && url === BALANCE_PATHS[bal.format]) {
          if (req.headers.authorization !== `Bearer ${sc.api_key ?? DEFAULT_API_KEY}`) return send(res, 401, openaiErrorBody(401, 'Incorrect API key provided.'));
          const num = (t) => Number(t); // moonshot and openrouter answer JSON numbers
          if (bal.format === 'deepseek') return send(res, 200, { is_available: true, balance_infos: [{ currency: 'CNY', total_balance: bal.amount, granted_balance: '0.00', topped_up_balance: bal.amount }] });
          if (bal.format === 'moonshot') return send(res, 200, { code: 0, data: { available_balance: num(bal.amount), voucher_balance: 0, cash_balance: num(bal.amount) }, scode: '0x0', status: true });
          if (bal.format === 'siliconflow') return send(res, 200, { code: 20000, message: 'OK', status: true, data: { id: 'u1', balance: '0.88', chargeBalance: '0.00', totalBalance: bal.amount } });
          return send(res, 200, { data: { total_credits: num(bal.credits), total_usage: num(bal.usage) } });
        }
        const gemini = geminiRoute(url);
        if (req.method === 'POST' && gemini) return handleGemini(req, res, gemini, raw);
        const proto = url.startsWith('/anthropic/') ? 'anthropic' : 'openai';
        return send(res, 404, errorBody(proto, 404, `fake upstream: no route for ${req.method} ${url}`));
      };
      go().catch((e) => {
        if (log) console.error(e);
        if (!res.headersSent) send(res, 500, { error: { message: `fake upstream internal error: ${e.message}`, type: 'server_error', param: null, code: null } });
        else res.destroy();
      });
    });
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const actualPort = server.address().port;
  const url = `${tlsOptions ? 'https' : 'http'}://127.0.0.1:${actualPort}`;
  return {
    url,
    port: actualPort,
    requests,
    server,
    reset() { requests.length = 0; },
    close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      while (held.length) held.shift()();
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

// ---------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------

function parseArgs(argv) {
  const out = { port: 0, scenario: null, record: null, tlsCert: null, tlsKey: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    if (a === '--port') out.port = Number(val());
    else if (a === '--scenario') out.scenario = val();
    else if (a === '--record') out.record = val();
    else if (a === '--tls-cert') out.tlsCert = val();
    else if (a === '--tls-key') out.tlsKey = val();
    else if (a === '--help' || a === '-h') out.help = true;
    else throw new Error(`unknown argument: ${a}`);
  }
  return out;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`fake-upstream: ${e.message}`);
    process.exit(2);
  }
  if (args.help || !args.scenario) {
    console.error('usage: node fake_upstream.mjs --port 0 --scenario FILE.json [--record DIR] [--tls-cert PEM --tls-key PEM]');
    process.exit(args.help ? 0 : 2);
  }
  let fu;
  try {
    fu = await startFakeUpstream({ scenario: args.scenario, port: args.port, record: args.record, log: true, tlsCert: args.tlsCert, tlsKey: args.tlsKey });
  } catch (e) {
    console.error(`fake-upstream: ${e.message}`);
    process.exit(1);
  }
  process.stdout.write(`fake-upstream listening on ${fu.url}\n`);
  const stop = () => { fu.close().then(() => process.exit(0)); setTimeout(() => process.exit(0), 2000).unref(); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
