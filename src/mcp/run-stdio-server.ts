import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createCountersignClient } from '../client/countersign-client.ts';
import { createMcpServer } from './create-mcp-server.ts';
import { httpApiOperations } from './http-api-operations.ts';
import type { StdioSettings } from './stdio-settings.ts';

/**
 * `countersign mcp`: the MCP tools on stdin/stdout, a thin client of the HTTP API. Runs until
 * the MCP client closes stdin. stdout carries the protocol alone; anything else goes to stderr.
 */
export async function runStdioMcpServer(settings: StdioSettings, io: { stdin: NodeJS.ReadableStream; stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = process): Promise<void> {
  const client = createCountersignClient({ baseUrl: settings.baseUrl, apiKey: settings.apiKey });
  const server = createMcpServer(httpApiOperations(client, settings.baseUrl), {
    defaultProject: settings.project,
    permissionWaitSeconds: settings.permissionWaitSeconds,
    onUnexpectedError: (error) => io.stderr.write(`countersign mcp: ${(error as Error).stack ?? String(error)}\n`),
  });
  const closed = new Promise<void>((resolve) => {
    io.stdin.once('end', resolve);
    io.stdin.once('close', resolve);
  });
  await server.connect(new StdioServerTransport(io.stdin as NodeJS.ReadStream & typeof process.stdin, io.stdout as NodeJS.WriteStream & typeof process.stdout));
  await closed;
  await server.close();
}
