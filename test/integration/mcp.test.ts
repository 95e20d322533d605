import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInServer } from '../../src/cli/main.ts';
import { BIN, cleanEnv } from '../helpers/countersign-process.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

interface Approval {
  id: string;
  status: string;
  payloadHash: string;
  project: string;
  action: string;
  decision: { outcome: string; by: string[]; reason: string | null } | null;
}

/** The MCP client the way an agent's host runs one, on either transport. */
type Connect = (key: string, options?: { project?: string; permissionWait?: number }) => Promise<Client>;

const text = (result: CallToolResult, index = 0) => {
  const item = result.content[index];
  if (item?.type !== 'text') throw new Error(`content ${index} is not text: ${JSON.stringify(result.content)}`);
  return item.text;
};
const parsed = <T>(result: CallToolResult, index = 0) => JSON.parse(text(result, index)) as T;
const call = async (client: Client, name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as CallToolResult;

describeEachDatabase('the MCP server', (database) => {
  let server: TestServer;
  let agentKey: string;
  let readOnlyKey: string;
  let aliceKey: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'] }]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
    readOnlyKey = await server.key({ scopes: ['read'] });
    aliceKey = await server.key({ scopes: ['review'], reviewer: 'alice' });
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await server?.close();
  });

  const transports: Array<[string, Connect]> = [
    [
      'stdio (countersign mcp)',
      async (key, { project, permissionWait } = {}) => {
        const transport = new StdioClientTransport({
          command: process.execPath,
          args: [BIN, 'mcp'],
          env: cleanEnv({ COUNTERSIGN_URL: server.url, COUNTERSIGN_KEY: key, ...(project ? { COUNTERSIGN_PROJECT: project } : {}), ...(permissionWait ? { COUNTERSIGN_PERMISSION_WAIT: String(permissionWait) } : {}) }) as Record<string, string>,
          stderr: 'pipe',
        });
        const client = new Client({ name: 'test', version: '1.0.0' });
        await client.connect(transport);
        clients.push(client);
        return client;
      },
    ],
    [
      'Streamable HTTP (POST /mcp)',
      async (key, { project, permissionWait } = {}) => {
        const url = new URL(`${server.url}/mcp`);
        if (project) url.searchParams.set('project', project);
        if (permissionWait) url.searchParams.set('permissionWait', String(permissionWait));
        const client = new Client({ name: 'test', version: '1.0.0' });
        await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
        clients.push(client);
        return client;
      },
    ],
  ];

  /** A reviewer's decision on the `local` provider, through the local decision API. */
  const decide = async (id: string, outcome: 'approve' | 'reject', reason?: string) => {
    const response = await server.fetch(`/v1/approvals/${id}/decision`, { key: aliceKey, json: { outcome, ...(reason ? { reason } : {}) } });
    expect(response.status).toBe(200);
  };

  /** The pending approvals of the project, newest first, as the agent's key reads them. */
  const pendingApprovals = async () => ((await (await server.fetch('/v1/approvals?status=pending&project=billing-bot', { key: agentKey })).json()) as { items: Approval[] }).items;

  describe.each(transports)('over %s', (_name, connect) => {
    let agent: Client;

    beforeAll(async () => {
      agent = await connect(agentKey, { project: 'billing-bot' });
    });

    it('lists the four tools, their inputs described by the HTTP API\'s schemas', async () => {
      const { tools } = await agent.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual(['approve_tool_use', 'cancel_approval', 'get_decision', 'request_approval']);
      const request = tools.find((tool) => tool.name === 'request_approval')!;
      expect(request.inputSchema.required).toEqual(['action', 'summary']);
      expect(request.inputSchema.properties).toMatchObject({ summary: { type: 'string', maxLength: 500 }, risk: { enum: ['low', 'medium', 'high'] }, idempotencyKey: { type: 'string' } });
      const permission = tools.find((tool) => tool.name === 'approve_tool_use')!;
      expect(permission.inputSchema.required).toEqual(['tool_name', 'input']);
    });

    it('request_approval answers at once; get_decision waits for the reviewer and answers approved', async () => {
      const requested = await call(agent, 'request_approval', { action: 'send_email', summary: 'Send the reply to ACME', payload: { to: 'ops@acme.example' } });
      expect(requested.isError).toBeFalsy();
      const approval = parsed<Approval>(requested);
      expect(approval).toMatchObject({ status: 'pending', project: 'billing-bot', action: 'send_email' });
      expect(approval.payloadHash).toMatch(/^sha256:/);

      const quick = await call(agent, 'get_decision', { id: approval.id });
      expect(parsed<Approval>(quick).status).toBe('pending');
      expect(text(quick, 1)).toMatch(/^Still pending: NOT approved yet\. Ask again in \d+ s/);

      const waiting = call(agent, 'get_decision', { id: approval.id, waitSeconds: 50 });
      // The CLI's `decide`, run in the server as a forwarded command line is.
      const decided = await runInServer({ argv: ['decide', approval.id, 'approve', '--as', 'alice', '--reason', 'fine'], cwd: process.cwd() }, server.services);
      expect(decided.exitCode).toBe(0);
      const answered = await waiting;
      expect(answered.isError).toBeFalsy();
      expect(parsed<Approval>(answered)).toMatchObject({ id: approval.id, status: 'approved', decision: { outcome: 'approved', by: ['alice'], reason: 'fine' } });
      expect(answered.structuredContent).toMatchObject({ id: approval.id, status: 'approved' });
    });
  });
});
