import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

/**
 * Answers one MCP message posted over Streamable HTTP, statelessly: a server and transport
 * for this request alone (they carry the caller's key), no session id, plain JSON answers
 * (no SSE stream to keep open; `curl` can read them). Resolves once the response is sent or
 * the client has gone; the server is then closed, which stops a tool still waiting.
 */
export async function serveStreamableHttp(server: McpServer, req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void> {
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  const done = new Promise<void>((resolve) => res.once('close', resolve));
  try {
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
    await done;
  } finally {
    await transport.close();
    await server.close();
  }
}
