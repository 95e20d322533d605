/**
 * The environment `countersign mcp` reads, for `countersign mcp --help`. Kept apart from
 * stdio-settings.ts (which reads them) so help loads no zod; a unit test holds the two together.
 */
export const MCP_VARIABLES: ReadonlyArray<readonly [name: string, meaning: string]> = [
  ['COUNTERSIGN_URL', 'the Countersign server (default http://127.0.0.1:8080)'],
  ['COUNTERSIGN_KEY', 'an API key, csk_…, with scopes intake,read (or COUNTERSIGN_KEY_FILE=/path)'],
  ['COUNTERSIGN_PROJECT', 'the project asked in when a tool call names none (Claude Code\'s permission calls never name one)'],
  ['COUNTERSIGN_PERMISSION_WAIT', 'seconds approve_tool_use waits for a reviewer before it denies (default 50; more only with a client timeout to match, e.g. Claude Code\'s MCP_TOOL_TIMEOUT)'],
];

export function mcpHelp(): string {
  const width = Math.max(...MCP_VARIABLES.map(([name]) => name.length));
  return [
    '',
    'Environment:',
    ...MCP_VARIABLES.map(([name, meaning]) => `  ${name.padEnd(width)}  ${meaning}`),
    '',
    'Tools: request_approval, get_decision, cancel_approval, and approve_tool_use for',
    '`claude -p --permission-prompt-tool mcp__countersign__approve_tool_use`. The server serves',
    'the same tools at POST /mcp (Streamable HTTP, Authorization: Bearer csk_…).',
  ].join('\n');
}
