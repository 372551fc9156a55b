// The situations scenario_router tells apart, as scripted Claude Code sessions: the CLI runs
// (`runs`), the files in its working directory, and the fake upstream's turns. Each turn has a
// `label` (ignored by the fake upstream) that names the request it answers. Used by
// scenario_capture.test.mjs (captures against the fake upstream) and
// scenario_router_gateway.test.mjs (the same sessions through the gateway).
const MODEL = ['--model', 'claude-sonnet-4-6'];
const PRINT = ['--output-format', 'json', '--permission-mode', 'acceptEdits'];
const TITLE = { label: 'title', match: 'Write the title in the language', text: '{"title":"Capture"}', times: 0 };
const DONE = { label: 'done', text: 'Done.', times: 0 };
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
const call = (id, name, input) => ({ id, name, arguments: input });
const ask = (prompt, extra = []) => ({ args: ['-p', prompt, ...PRINT, ...MODEL, ...extra] });

// A big paste on stdin (claude -p adds it to the prompt): the request is over 60k estimated tokens.
const BIG = Array.from({ length: 1400 }, (_, i) => `line ${i}: ${'lorem ipsum dolor sit amet '.repeat(4)}`).join('\n');

export const SESSIONS = [
  { name: 'plain', runs: [ask('Say hi CAP-PLAIN')],
    turns: [TITLE, { label: 'main', match: 'CAP-PLAIN', text: 'Hi.' }, DONE] },
  { name: 'toolloop', files: { 'notes.txt': 'hello notes\n' }, runs: [ask('Read notes.txt CAP-READ')],
    turns: [TITLE, { label: 'main', match: 'CAP-READ', tool_calls: [call('toolu_read_1', 'Read', { file_path: 'notes.txt' })] },
      { label: 'result', match: 'hello notes', text: 'The notes say hello.' }, DONE] },
  { name: 'subagent', files: { 'notes.txt': 'hello notes\n' }, runs: [ask('Use an agent to read notes.txt CAP-SUB')],
    turns: [TITLE, { label: 'agent', match: 'CAP-AGENT-TASK', text: 'The notes say hello.' },
      { label: 'main', match: 'CAP-SUB', tool_calls: [call('toolu_agent_1', 'Agent', { description: 'Read notes', prompt: 'Read notes.txt and summarise it. CAP-AGENT-TASK', subagent_type: 'Explore' })] },
      { label: 'result', match: 'The notes say hello', text: 'Done.' }, DONE] },
  { name: 'nested', runs: [ask('Use nested agents CAP-NEST')],
    turns: [TITLE, { label: 'inner', match: 'CAP-INNER', text: 'inner done' },
      { label: 'outer', match: 'CAP-OUTER', tool_calls: [call('toolu_inner_1', 'Agent', { description: 'Inner', prompt: 'Inner task CAP-INNER', subagent_type: 'Explore' })] },
      { label: 'outer-result', match: 'inner done', text: 'outer done' },
      { label: 'main', match: 'CAP-NEST', tool_calls: [call('toolu_outer_1', 'Agent', { description: 'Outer', prompt: 'Outer task CAP-OUTER', subagent_type: 'claude' })] },
      { label: 'result', match: 'outer done', text: 'Done.' }, DONE] },
  { name: 'agenttag', files: { 'notes.txt': 'x\n' },
    runs: [ask('Review with the reviewer agent CAP-TAG', ['--agents', JSON.stringify({ reviewer: {
      description: 'Reviews code', prompt: '<tianshu-model>agent-coder</tianshu-model>\nYou review code carefully.' } })])],
    turns: [TITLE, { label: 'agent', match: 'CAP-REVIEW', text: 'Looks fine.' },
      { label: 'main', match: 'CAP-TAG', tool_calls: [call('toolu_review_1', 'Agent', { description: 'Review', prompt: 'Review notes.txt CAP-REVIEW', subagent_type: 'reviewer' })] },
      { label: 'result', match: 'Looks fine', text: 'Done.' }, DONE] },
  { name: 'usertag', runs: [ask('Say hi <tianshu-model>user-pick</tianshu-model>')],
    turns: [TITLE, { label: 'main', text: 'Hi.', times: 0 }] },
  // Claude Code's default model sends role "system" entries inside messages (beta
  // mid-conversation-system); the fake upstream's Anthropic endpoint refuses them with a 400, so
  // the CLI run fails, but its requests are what a gateway receives and are captured all the same.
  { name: 'default', runs: [{ args: ['-p', 'Say hi CAP-DEFAULT', ...PRINT], mayFail: true }],
    turns: [TITLE, { label: 'main', match: 'CAP-DEFAULT', text: 'Hi.' }, DONE] },
  { name: 'websearch', runs: [ask('Search the web for tianshu CAP-WEB', ['--allowedTools', 'WebSearch'])],
    turns: [TITLE, { label: 'search', match: 'Perform a web search', text: 'No results.' },
      { label: 'main', match: 'CAP-WEB', tool_calls: [call('toolu_web_1', 'WebSearch', { query: 'tianshu gateway' })] },
      { label: 'result', match: 'Web search results', text: 'Done.' }, DONE] },
  { name: 'compact', files: { 'notes.txt': 'hello notes\n' },
    runs: [ask('Read notes.txt CAP-C1'), { args: ['-p', 'And then? CAP-C2', '--continue', ...PRINT, ...MODEL] },
      { args: ['-p', '/compact', '--continue', ...PRINT, ...MODEL] },
      { args: ['-p', 'After the summary CAP-C3', '--continue', ...PRINT, ...MODEL] }],
    turns: [TITLE, { label: 'summary', match: 'create a detailed summary', text: '<analysis>a</analysis>\n<summary>The user read notes.txt.</summary>' },
      { label: 'main', match: 'CAP-C1', tool_calls: [call('toolu_c_1', 'Read', { file_path: 'notes.txt' })] },
      { label: 'result', match: 'hello notes', text: 'The notes say hello.' },
      { label: 'second', match: 'CAP-C2', text: 'Nothing more.' },
      { label: 'after', match: 'CAP-C3', text: 'Still here.' }, DONE] },
  // One session, two turns: the second asks for max effort (think); a session keeps its model.
  { name: 'sticky', runs: [ask('Start here CAP-S1'),
    { args: ['-p', 'Think hard now CAP-S2', '--continue', ...PRINT, ...MODEL, '--effort', 'max'] }],
    turns: [TITLE, { label: 'first', match: 'CAP-S1', text: 'Started.' },
      { label: 'think', match: 'CAP-S2', text: 'Thought.' }, DONE] },
  { name: 'effort', runs: [ask('Low effort CAP-E', ['--effort', 'low']), ask('ultrathink about this CAP-E'),
    { args: ['-p', 'No thinking CAP-E', ...PRINT, ...MODEL], env: { MAX_THINKING_TOKENS: '0' } },
    ask('Max effort CAP-E', ['--effort', 'max'])],
    turns: [TITLE, { label: 'main', match: 'CAP-E', text: 'OK.', times: 0 }, DONE] },
  { name: 'image', files: { 'pixel.png': PNG }, runs: [ask('Look at pixel.png CAP-IMG')],
    turns: [TITLE, { label: 'main', match: 'CAP-IMG', tool_calls: [call('toolu_img_1', 'Read', { file_path: 'pixel.png' })] },
      { label: 'result', text: 'A single pixel.' }, DONE] },
  { name: 'long', runs: [{ ...ask('Summarise this log CAP-LONG'), input: BIG }],
    turns: [TITLE, { label: 'main', match: 'CAP-LONG', text: 'A long log.' }, DONE] },
  // The same failing call four times: a stall after the third failure (3 in the last 6 calls).
  { name: 'stall', runs: [ask('Run the check CAP-STALL', ['--allowedTools', 'Bash'])],
    turns: [TITLE, { label: 'main', match: 'CAP-STALL', tool_calls: [call('toolu_stall_1', 'Bash', { command: 'exit 3', description: 'Run the check' })] },
      { label: 'fail', tool_calls: [call('toolu_stall_2', 'Bash', { command: 'exit 3', description: 'Run the check' })] },
      { label: 'fail', tool_calls: [call('toolu_stall_3', 'Bash', { command: 'exit 3', description: 'Run the check' })] },
      { label: 'fail', tool_calls: [call('toolu_stall_4', 'Bash', { command: 'exit 3', description: 'Run the check' })] },
      { label: 'fail', text: 'The check keeps failing.' }, DONE] },
];
