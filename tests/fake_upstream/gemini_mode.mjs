// Gemini mode of the fake upstream: POST /v1beta/models/{model}:generateContent and
// :streamGenerateContent?alt=sse, as strict as Google's API where the gateway could go wrong:
// - unknown fields anywhere in the request are refused, naming them as Google does;
// - a functionCall must be answered by the same number of functionResponse parts in the next
//   (user) content;
// - for a "gemini-3" model, the first functionCall of every model content must carry a
//   thoughtSignature, and a signature must be one this server issued (or Google's documented
//   placeholder "skip_thought_signature_validator"): a lost or altered signature is refused;
// - the key must come in x-goog-api-key; a key in the URL (?key=) is refused, because the
//   gateway must never put it there.
// Answers use the scenario's turns (text, reasoning, tool_calls, usage with
// cache_read_input_tokens, stream.chunk_size, stream.error_after_chunks, error, raw).

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const PLACEHOLDER_SIGNATURE = 'skip_thought_signature_validator';

export class GeminiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export const GEMINI_STATUS = { 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE', 504: 'DEADLINE_EXCEEDED' };

export function geminiErrorBody(code, message) {
  return { error: { code, message, status: GEMINI_STATUS[code] ?? 'UNKNOWN' } };
}

const bad = (message) => new GeminiError(400, message);
const unknown = (where, name) => bad(`Invalid JSON payload received. Unknown name "${name}" at '${where}': Cannot find field.`);

function allow(obj, keys, where) {
  for (const k of Object.keys(obj)) if (!keys.has(k)) throw unknown(where, k);
}

const REQUEST_FIELDS = new Set(['contents', 'systemInstruction', 'tools', 'toolConfig', 'generationConfig', 'safetySettings', 'cachedContent', 'labels']);
const PART_FIELDS = new Set(['text', 'thought', 'thoughtSignature', 'inlineData', 'functionCall', 'functionResponse', 'fileData', 'executableCode', 'codeExecutionResult', 'videoMetadata']);
const GEN_FIELDS = new Set(['maxOutputTokens', 'temperature', 'topP', 'topK', 'stopSequences', 'candidateCount', 'thinkingConfig', 'responseMimeType', 'responseSchema', 'responseJsonSchema', 'seed', 'presencePenalty', 'frequencyPenalty', 'responseModalities', 'responseLogprobs', 'logprobs', 'mediaResolution']);
const NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}$/;

//! Throws a GeminiError for what Google would refuse. `issued`: signatures this server gave out.
export function validateGemini(body, model, issued) {
  if (!isObj(body)) throw bad('Invalid JSON payload received. Expected an object.');
  allow(body, REQUEST_FIELDS, '');
  const contents = body.contents;
  if (!Array.isArray(contents) || contents.length === 0) throw bad('* GenerateContentRequest.contents: contents is not specified');
  const gemini3 = /gemini-3/.test(model);
  contents.forEach((c, i) => {
    if (!isObj(c)) throw bad(`contents[${i}]: expected a Content object`);
    allow(c, new Set(['role', 'parts']), `contents[${i}]`);
    if (c.role !== undefined && c.role !== 'user' && c.role !== 'model') throw bad(`Please use a valid role: user, model. (contents[${i}].role ${JSON.stringify(c.role)})`);
    if (!Array.isArray(c.parts) || c.parts.length === 0) throw bad(`* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`);
    let firstCall = true;
    c.parts.forEach((p, j) => {
      const where = `contents[${i}].parts[${j}]`;
      if (!isObj(p)) throw bad(`${where}: expected a Part object`);
      allow(p, PART_FIELDS, where);
      const data = ['text', 'inlineData', 'functionCall', 'functionResponse', 'fileData', 'executableCode', 'codeExecutionResult'].filter((k) => p[k] !== undefined);
      if (data.length !== 1 && !(data.length === 0 && p.thoughtSignature)) throw bad(`${where}: a part must hold exactly one data field (got ${data.join(', ') || 'none'})`);
      if (p.text !== undefined && typeof p.text !== 'string') throw bad(`${where}.text: expected a string`);
      if (p.inlineData !== undefined) allow(p.inlineData, new Set(['mimeType', 'data']), `${where}.inlineData`);
      if (p.functionCall !== undefined) {
        allow(p.functionCall, new Set(['name', 'args', 'id']), `${where}.functionCall`);
        if (c.role !== 'model') throw bad(`${where}: functionCall parts are only allowed in model contents`);
        if (typeof p.functionCall.name !== 'string' || !p.functionCall.name) throw bad(`* GenerateContentRequest.${where}.function_call.name: Name cannot be empty.`);
        if (p.functionCall.args !== undefined && !isObj(p.functionCall.args)) throw bad(`${where}.functionCall.args: expected an object`);
        if (firstCall && gemini3 && !p.thoughtSignature) {
          throw bad(`Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`default_api:${p.functionCall.name}\` , position ${j + 1}. (${where})`);
        }
        firstCall = false;
      }
      if (p.thoughtSignature !== undefined) {
        if (typeof p.thoughtSignature !== 'string' || !p.thoughtSignature) throw bad(`${where}.thoughtSignature: expected a non-empty string`);
        if (gemini3 && p.thoughtSignature !== PLACEHOLDER_SIGNATURE && !issued.has(p.thoughtSignature)) throw bad(`Corrupted thought signature. (${where})`);
      }
      if (p.functionResponse !== undefined) {
        allow(p.functionResponse, new Set(['name', 'response', 'id']), `${where}.functionResponse`);
        if (typeof p.functionResponse.name !== 'string' || !p.functionResponse.name) throw bad(`* GenerateContentRequest.${where}.function_response.name: Name cannot be empty.`);
        if (!isObj(p.functionResponse.response)) throw bad(`${where}.functionResponse.response: expected an object`);
      }
    });
  });
  // Every functionCall is answered, one functionResponse each, in the next (user) content.
  contents.forEach((c, i) => {
    const calls = c.parts.filter((p) => p.functionCall).map((p) => p.functionCall.name);
    const responses = c.parts.filter((p) => p.functionResponse);
    if (responses.length && (i === 0 || !contents[i - 1].parts.some((p) => p.functionCall))) {
      throw bad(`Please ensure that function response turn comes immediately after a function call turn. (contents[${i}])`);
    }
    if (!calls.length) return;
    const next = contents[i + 1];
    if (!next) throw bad(`Please ensure that function call turn comes immediately after a user turn or after a function response turn. (contents[${i}] ends the conversation)`);
    const answered = next.parts.filter((p) => p.functionResponse).map((p) => p.functionResponse.name);
    if (answered.length !== calls.length || next.role !== 'user') {
      throw bad(`Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn. (contents[${i}] has ${calls.length}, contents[${i + 1}] answers ${answered.length})`);
    }
    for (const name of calls) if (!answered.includes(name)) throw bad(`contents[${i + 1}]: no functionResponse for function call '${name}'`);
  });
  if (body.systemInstruction !== undefined) {
    if (!isObj(body.systemInstruction)) throw bad('systemInstruction: expected a Content object');
    allow(body.systemInstruction, new Set(['role', 'parts']), 'system_instruction');
  }
  if (body.tools !== undefined) {
    if (!Array.isArray(body.tools)) throw bad('tools: expected an array');
    body.tools.forEach((t, i) => {
      allow(t, new Set(['functionDeclarations', 'googleSearch', 'codeExecution', 'urlContext']), `tools[${i}]`);
      (t.functionDeclarations ?? []).forEach((d, k) => {
        const where = `tools[${i}].function_declarations[${k}]`;
        allow(d, new Set(['name', 'description', 'parameters', 'parametersJsonSchema', 'response', 'responseJsonSchema', 'behavior']), where);
        if (!NAME_RE.test(d.name ?? '')) throw bad(`* GenerateContentRequest.${where}.name: Invalid function name.`);
        if (d.parameters !== undefined && d.parametersJsonSchema !== undefined) throw bad(`${where}: set parameters or parametersJsonSchema, not both`);
      });
    });
  }
  if (body.toolConfig !== undefined) {
    allow(body.toolConfig, new Set(['functionCallingConfig', 'retrievalConfig']), 'tool_config');
    const fc = body.toolConfig.functionCallingConfig;
    if (fc !== undefined) {
      allow(fc, new Set(['mode', 'allowedFunctionNames']), 'tool_config.function_calling_config');
      if (!['AUTO', 'ANY', 'NONE', 'VALIDATED', 'MODE_UNSPECIFIED'].includes(fc.mode)) throw bad(`Invalid value at 'tool_config.function_calling_config.mode' (${JSON.stringify(fc.mode)})`);
    }
  }
  if (body.generationConfig !== undefined) {
    const g = body.generationConfig;
    allow(g, GEN_FIELDS, 'generation_config');
    if (g.thinkingConfig !== undefined) allow(g.thinkingConfig, new Set(['thinkingBudget', 'includeThoughts', 'thinkingLevel']), 'generation_config.thinking_config');
    if (g.maxOutputTokens !== undefined && !(Number.isInteger(g.maxOutputTokens) && g.maxOutputTokens > 0)) throw bad('generation_config.max_output_tokens: must be a positive integer');
    if (g.candidateCount !== undefined && g.candidateCount !== 1) throw bad('generation_config.candidate_count: only 1 is supported');
  }
}

function approxTokens(s) {
  return Math.max(1, Math.ceil((s ?? '').length / 4));
}

function splitChunks(str, size) {
  const cps = Array.from(str ?? '');
  if (!cps.length) return [];
  if (!size || size <= 0) return [cps.join('')];
  const out = [];
  for (let i = 0; i < cps.length; i += size) out.push(cps.slice(i, i + size).join(''));
  return out;
}

function usageOf(turn, body, calls) {
  const u = turn.usage ?? {};
  const cached = u.cache_read_input_tokens ?? 0;
  const input = u.input_tokens ?? approxTokens(JSON.stringify(body.contents ?? ''));
  const output = u.output_tokens ?? approxTokens((turn.text ?? '') + calls.map((c) => c.name + JSON.stringify(c.args)).join(''));
  const thoughts = u.reasoning_tokens ?? (turn.reasoning ? approxTokens(turn.reasoning) : 0);
  const m = { promptTokenCount: input + cached, candidatesTokenCount: output, totalTokenCount: input + cached + output + thoughts };
  if (thoughts) m.thoughtsTokenCount = thoughts;
  if (cached) m.cachedContentTokenCount = cached;
  return m;
}

/** The chunks of one answer (a whole answer is their parts joined). `sign` issues a signature. */
export function geminiChunks(turn, body, ctx, sign) {
  const size = turn.stream?.chunk_size ?? 8;
  const calls = (turn.tool_calls ?? []).map((tc) => ({ name: tc.name, args: typeof tc.arguments === 'string' ? JSON.parse(tc.arguments) : (tc.arguments ?? tc.input ?? {}), ...(tc.id ? { id: tc.id } : {}) }));
  const thoughts = body.generationConfig?.thinkingConfig?.includeThoughts === true;
  const chunk = (parts, extra = {}) => ({ candidates: [{ content: { role: 'model', parts }, index: 0, ...extra }], modelVersion: ctx.model, responseId: ctx.id });
  const out = [];
  if (thoughts) for (const piece of splitChunks(turn.reasoning, size)) out.push(chunk([{ text: piece, thought: true }]));
  const textPieces = splitChunks(turn.text, size);
  const signature = turn.reasoning || ctx.gemini3 ? (turn.signature ?? sign()) : null;
  textPieces.forEach((piece, k) => {
    const part = { text: piece };
    if (signature && !calls.length && k === textPieces.length - 1) part.thoughtSignature = signature;
    out.push(chunk([part]));
  });
  if (calls.length) out.push(chunk(calls.map((c, k) => ({ functionCall: c, ...(k === 0 && signature ? { thoughtSignature: signature } : {}) }))));
  const finishReason = turn.finish_reason === 'length' ? 'MAX_TOKENS' : 'STOP';
  const lastParts = signature && !calls.length && !textPieces.length ? [{ text: '', thoughtSignature: signature }] : [{ text: '' }];
  const fin = chunk(lastParts, { finishReason });
  if (turn.report_usage !== false) fin.usageMetadata = usageOf(turn, body, calls);
  out.push(fin);
  return out;
}

export function geminiWhole(chunks) {
  const parts = [];
  for (const c of chunks) for (const p of c.candidates[0].content.parts) if (!(p.text === '' && !p.thoughtSignature)) parts.push(p);
  const last = chunks[chunks.length - 1];
  return { ...last, candidates: [{ ...last.candidates[0], content: { role: 'model', parts } }] };
}

/** "/v1beta/models/{model}:{method}" -> {model, method}, or null. */
export function geminiRoute(url) {
  const m = /^\/v1beta\/models\/([^/:]+):([A-Za-z]+)$/.exec(url);
  return m ? { model: decodeURIComponent(m[1]), method: m[2] } : null;
}
