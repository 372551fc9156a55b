#!/usr/bin/env node
// Deterministic request bodies for the overhead benchmark (Node, stdlib only).
//
//   node gen_payloads.js OUT_DIR
//
// Writes, for the Anthropic Messages API (client -> Tianshu) and the equivalent OpenAI Chat
// Completions body (client -> upstream directly, or through nginx):
//   small.anthropic.json / small.openai.json          one short user turn, non-streaming
//   large.anthropic.json / large.openai.json          Claude-Code-shaped, ~75 KB, non-streaming:
//       a long system prompt (two text blocks, cache_control on the last), 24 tools with
//       realistic JSON Schemas, 4 assistant turns with tool_use and their tool_result turns
//   stream10.*.json    streaming, the upstream sends 10 content chunks   (time to first token)
//   stream200.*.json   streaming, the upstream sends 200 content chunks  (cost per SSE frame)
//   stream_slow.*.json streaming, 20 chunks 100 ms apart (~2 s) (2,000 concurrent streams)
// The fake upstream reads `chunks=N` and `delay_ms=N` from the body (here: the user text).
// No randomness: a fixed linear congruential generator, so every run sends the same bytes.
'use strict';
const fs = require('fs');
const path = require('path');

const out = process.argv[2];
if (!out) { console.error('usage: gen_payloads.js OUT_DIR'); process.exit(2); }
fs.mkdirSync(out, { recursive: true });

let seed = 42;
const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
const WORDS = ('the a file function return value module test build error path config request ' +
  'response stream token model user tool result schema string number array object index cache ' +
  'server client header body line column import export class method field type interface async ' +
  'await promise buffer parse encode decode commit branch diff patch review lint format check ' +
  'always never must should prefer avoid use when before after only unless instead of').split(' ');
const sentence = (n) => {
  const w = [];
  for (let i = 0; i < n; i++) w.push(WORDS[Math.floor(rand() * WORDS.length)]);
  w[0] = w[0][0].toUpperCase() + w[0].slice(1);
  return w.join(' ') + '.';
};
const paragraph = (sentences) => Array.from({ length: sentences }, () => sentence(8 + Math.floor(rand() * 14))).join(' ');

// --- system prompt: ~24 KB of instructions, sections like a coding agent's --------------------
const sections = ['Tone and style', 'Proactiveness', 'Following conventions', 'Code style',
  'Task management', 'Doing tasks', 'Tool usage policy', 'Code references', 'Git safety',
  'Security', 'Testing', 'Environment'];
let system1 = 'You are an interactive CLI tool that helps users with software engineering tasks. ' +
  'Use the instructions below and the tools available to you to assist the user.\n\n';
for (const s of sections) {
  system1 += `# ${s}\n`;
  for (let i = 0; i < 4; i++) system1 += `- ${paragraph(3)}\n`;
  system1 += '\n';
}
const system2 = '<env>\nWorking directory: /home/dev/project\nIs directory a git repo: Yes\n' +
  'Platform: linux\nToday\'s date: 2026-11-22\n</env>\n' + paragraph(6);

// --- 24 tools with realistic JSON Schemas ----------------------------------------------------
const toolNames = ['Task', 'Bash', 'Glob', 'Grep', 'LS', 'ExitPlanMode', 'Read', 'Edit',
  'MultiEdit', 'Write', 'NotebookRead', 'NotebookEdit', 'WebFetch', 'TodoRead', 'TodoWrite',
  'WebSearch', 'BashOutput', 'KillShell', 'SlashCommand', 'ListMcpResources',
  'ReadMcpResource', 'GitDiff', 'GitLog', 'RunTests'];
const prop = (type, extra = {}) => Object.assign({ type, description: paragraph(1) }, extra);
const tools = toolNames.map((name, i) => {
  const properties = {
    path: prop('string', { description: 'The absolute path to the file or directory. ' + paragraph(1) }),
    pattern: prop('string'),
    timeout: prop('number', { minimum: 0, maximum: 600000 }),
    options: {
      type: 'object',
      description: paragraph(1),
      properties: {
        recursive: prop('boolean'),
        mode: prop('string', { enum: ['content', 'files_with_matches', 'count'] }),
        limit: prop('integer', { minimum: 1 }),
      },
      additionalProperties: false,
    },
    items: {
      type: 'array',
      description: paragraph(1),
      items: {
        type: 'object',
        properties: {
          id: prop('string'),
          content: prop('string', { minLength: 1 }),
          status: prop('string', { enum: ['pending', 'in_progress', 'completed'] }),
        },
        required: ['id', 'content', 'status'],
        additionalProperties: false,
      },
    },
  };
  const keys = Object.keys(properties).slice(0, 2 + (i % 4));
  const picked = {};
  for (const k of keys) picked[k] = properties[k];
  return {
    name,
    description: paragraph(4 + (i % 3)),
    input_schema: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: picked,
      required: keys.slice(0, 1),
      additionalProperties: false,
    },
  };
});

// --- turns: user task, then 4 x (assistant text + tool_use, user tool_result), then a question --
const fileText = (lines) => Array.from({ length: lines }, (_, n) => `${String(n + 1).padStart(6)}\t${sentence(6 + (n % 9))}`).join('\n');
const messages = [{ role: 'user', content: [{ type: 'text', text: 'Find where request bodies are parsed and make the parser reject duplicate keys. ' + paragraph(2) }] }];
const calls = [
  ['Grep', { pattern: 'parse_body', path: '/home/dev/project/src' }, fileText(20)],
  ['Read', { path: '/home/dev/project/src/http/parser.cpp' }, fileText(160)],
  ['Read', { path: '/home/dev/project/src/http/parser.hpp' }, fileText(60)],
  ['Bash', { path: '/home/dev/project', pattern: 'ctest -R parser', timeout: 120000 }, fileText(40)],
];
calls.forEach(([name, input, result], i) => {
  const id = `toolu_01${String(i).padStart(2, '0')}ABCDEFGHIJKLMNOPQRSTUV`;
  messages.push({ role: 'assistant', content: [
    { type: 'text', text: paragraph(2) },
    { type: 'tool_use', id, name, input },
  ] });
  messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: id, content: result }] });
});
messages.push({ role: 'user', content: [{ type: 'text', text: 'Now make the change and run the tests. ' + paragraph(1), cache_control: { type: 'ephemeral' } }] });

// --- the Anthropic bodies and their OpenAI equivalents ---------------------------------------
function anthropic(extra, opts = {}) {
  return Object.assign({ model: 'claude-sonnet-4-5', max_tokens: 1024 }, opts, extra);
}
function toOpenAI(a) {
  const msgs = [];
  if (a.system) msgs.push({ role: 'system', content: Array.isArray(a.system) ? a.system.map((b) => b.text).join('\n\n') : a.system });
  for (const m of a.messages) {
    if (typeof m.content === 'string') { msgs.push({ role: m.role, content: m.content }); continue; }
    if (m.role === 'assistant') {
      const text = m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
      const tc = m.content.filter((b) => b.type === 'tool_use').map((b) => ({
        id: b.id, type: 'function', function: { name: b.name, arguments: JSON.stringify(b.input) } }));
      const o = { role: 'assistant', content: text || null };
      if (tc.length) o.tool_calls = tc;
      msgs.push(o);
    } else {
      for (const b of m.content) {
        if (b.type === 'tool_result') msgs.push({ role: 'tool', tool_call_id: b.tool_use_id, content: b.content });
      }
      const text = m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
      if (text) msgs.push({ role: 'user', content: text });
    }
  }
  const o = { model: 'up-model', max_tokens: a.max_tokens, messages: msgs };
  if (a.tools) o.tools = a.tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.input_schema } }));
  o.stream = !!a.stream;
  if (a.stream) o.stream_options = { include_usage: true };
  return o;
}
const bodies = {
  small: anthropic({ messages: [{ role: 'user', content: 'Hello! What can you do?' }] }),
  large: anthropic({
    system: [{ type: 'text', text: system1 }, { type: 'text', text: system2, cache_control: { type: 'ephemeral' } }],
    tools, messages,
  }),
  stream10: anthropic({ stream: true, messages: [{ role: 'user', content: 'Hello! chunks=10' }] }),
  stream200: anthropic({ stream: true, messages: [{ role: 'user', content: 'Hello! chunks=200' }] }),
  stream_slow: anthropic({ stream: true, messages: [{ role: 'user', content: 'Hello! chunks=20 delay_ms=100' }] }),
};
for (const [name, a] of Object.entries(bodies)) {
  if (!a.stream) a.stream = false;
  const an = JSON.stringify(a);
  const oa = JSON.stringify(toOpenAI(a));
  fs.writeFileSync(path.join(out, `${name}.anthropic.json`), an);
  fs.writeFileSync(path.join(out, `${name}.openai.json`), oa);
  console.log(`${name}: anthropic ${an.length} bytes, openai ${oa.length} bytes`);
}
