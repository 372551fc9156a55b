// Sample requests for the dry run and the playground (Anthropic Messages bodies). Their names
// are catalogue keys; the bodies are data, shown as JSON.

export interface RequestTemplate {
  id: string;
  /** Catalogue key of the template's name. */
  nameKey: string;
  body: Record<string, unknown>;
}

const tools = [
  {
    name: 'Read',
    description: 'Reads a file from the local filesystem.',
    input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] },
  },
  {
    name: 'Bash',
    description: 'Executes a given bash command.',
    input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
  },
];

export const templates: RequestTemplate[] = [
  {
    id: 'claude-code-main',
    nameKey: 'templates.claudeCodeMain',
    body: {
      model: 'claude-sonnet-4-5',
      max_tokens: 32000,
      stream: true,
      system: [{ type: 'text', text: "You are Claude Code, Anthropic's official CLI for Claude." }],
      tools,
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Add a --verbose flag to the CLI parser.' }] }],
      metadata: { user_id: 'user_demo_account__session_0f1e2d3c' },
    },
  },
  {
    id: 'claude-code-title',
    nameKey: 'templates.claudeCodeTitle',
    body: {
      model: 'claude-haiku-4-5',
      max_tokens: 512,
      system: [{ type: 'text', text: 'Analyze if this message indicates a new conversation topic. Format your response as a JSON object with two fields.' }],
      messages: [{ role: 'user', content: 'Add a --verbose flag to the CLI parser.' }],
    },
  },
  {
    id: 'claude-code-tool-result',
    nameKey: 'templates.claudeCodeToolResult',
    body: {
      model: 'claude-sonnet-4-5',
      max_tokens: 32000,
      stream: true,
      tools,
      messages: [
        { role: 'user', content: 'What does main.cpp do?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_01', name: 'Read', input: { file_path: 'main.cpp' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: 'int main() { return 0; }' }] },
      ],
    },
  },
  {
    id: 'thinking',
    nameKey: 'templates.thinking',
    body: {
      model: 'claude-opus-4-1',
      max_tokens: 16000,
      thinking: { type: 'enabled', budget_tokens: 8000 },
      messages: [{ role: 'user', content: 'Prove that there are infinitely many primes.' }],
    },
  },
  {
    id: 'plain-chat',
    nameKey: 'templates.plainChat',
    body: { model: 'claude-sonnet-4-5', max_tokens: 256, messages: [{ role: 'user', content: 'Hello!' }] },
  },
];

export function templateById(id: string): RequestTemplate | undefined {
  return templates.find((t) => t.id === id);
}
