import type { Command } from 'commander';
import { mcpHelp } from '../../mcp/mcp-help.ts';
import type { CliRuntime } from '../cli-runtime.ts';

/** `countersign mcp`: the MCP server on stdio, a client of a running server's HTTP API (it never opens the database). */
export function registerMcpCommand(program: Command, runtime: CliRuntime): void {
  program
    .command('mcp')
    .description('run an MCP server on stdio for agents (Claude Code, …), asking a Countersign server over its HTTP API')
    .option('--json', 'accepted for symmetry: stdout carries the MCP protocol (JSON-RPC) alone')
    .addHelpText('after', mcpHelp)
    .action(async () => {
      const [{ resolveStdioSettings }, { runStdioMcpServer }] = await Promise.all([import('../../mcp/stdio-settings.ts'), import('../../mcp/run-stdio-server.ts')]);
      // The entry point reads the environment, once; a bad setting is a ConfigError (exit 2).
      const settings = resolveStdioSettings(process.env);
      runtime.err(`countersign mcp: serving MCP on stdio for ${settings.baseUrl}\n`);
      await runStdioMcpServer(settings);
    });
}
