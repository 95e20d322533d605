import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInServer } from '../../src/cli/main.ts';
import { BIN, cleanEnv, countersign } from '../helpers/countersign-process.ts';
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
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'], allowEdits: true }]);
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

    it('returns the same approval for a retried request_approval with the same idempotencyKey', async () => {
      const args = { action: 'send_email', summary: 'Send once', payload: { n: 1 }, idempotencyKey: `retry-${_name}` };
      const first = parsed<Approval>(await call(agent, 'request_approval', args));
      const again = parsed<Approval>(await call(agent, 'request_approval', args));
      expect(again.id).toBe(first.id);
      // The same key with another request is the API's 422, not a second approval.
      const changed = await call(agent, 'request_approval', { ...args, payload: { n: 2 } });
      expect(changed.isError).toBe(true);
      expect(parsed<{ status: number }>(changed).status).toBe(422);
    });

    it('refuses a key without the intake scope with the API\'s own error, and opens nothing', async () => {
      const before = (await pendingApprovals()).length;
      const reader = await connect(readOnlyKey, { project: 'billing-bot' });
      const refused = await call(reader, 'request_approval', { action: 'send_email', summary: 'Not allowed' });
      expect(refused.isError).toBe(true);
      expect(parsed(refused)).toEqual({ error: { code: 'forbidden', message: 'this API key lacks the "intake" scope' }, status: 403 });
      expect((await pendingApprovals()).length).toBe(before);
    });

    it('answers bad arguments and unknown ids with the API\'s errors', async () => {
      const invalid = await call(agent, 'request_approval', { action: 'send_email', summary: 'Send it', risk: 'extreme' });
      expect(invalid.isError).toBe(true);
      expect(parsed(invalid)).toMatchObject({ error: { code: 'invalid_request', message: expect.stringMatching(/^risk: /) }, status: 422 });

      const tooLong = await call(agent, 'get_decision', { id: 'apr_00000000000000000000000000', waitSeconds: 51 });
      expect(parsed(tooLong)).toMatchObject({ error: { code: 'invalid_request', message: expect.stringMatching(/^waitSeconds: /) }, status: 422 });

      const unknown = await call(agent, 'get_decision', { id: 'apr_00000000000000000000000000' });
      expect(parsed(unknown)).toMatchObject({ error: { code: 'not_found' }, status: 404 });
      const notAnId = await call(agent, 'cancel_approval', { id: 'nope' });
      expect(parsed(notAnId)).toMatchObject({ error: { code: 'not_found' }, status: 404 });
    });

    it('cancel_approval withdraws a pending request; a second cancel is the API\'s 409', async () => {
      const { id } = parsed<Approval>(await call(agent, 'request_approval', { action: 'send_email', summary: 'Withdraw me' }));
      const cancelled = await call(agent, 'cancel_approval', { id });
      expect(parsed<Approval>(cancelled)).toMatchObject({ id, status: 'cancelled' });
      const again = await call(agent, 'cancel_approval', { id });
      expect(parsed(again)).toMatchObject({ error: { code: 'not_pending' }, status: 409 });
    });

    describe('approve_tool_use, as Claude Code calls it', () => {
      /** What Claude Code sends its --permission-prompt-tool. */
      const toolUse = (id: string) => ({ tool_name: 'Bash', input: { command: `rm -rf build/${id}`, description: 'Clean the build' }, tool_use_id: `toolu_${id}` });

      /** Calls the permission tool, waits for its approval to appear, and lets `decideIt` decide it. */
      async function permission(client: Client, args: ReturnType<typeof toolUse>, decideIt?: (approval: Approval) => Promise<void>) {
        const answer = call(client, 'approve_tool_use', args);
        if (decideIt) {
          const approval = await until(async () => (await pendingApprovals()).find((a) => a.action === 'Bash'), (found) => found !== undefined);
          await decideIt(approval!);
        }
        const result = await answer;
        expect(result.isError).toBeFalsy();
        expect(result.content).toHaveLength(1);
        return JSON.parse(text(result)) as Record<string, unknown>;
      }

      it('allows once a reviewer approves, with the input it was asked about', async () => {
        const args = toolUse(`allow${_name.length}`);
        const answer = await permission(agent, args, (approval) => decide(approval.id, 'approve'));
        expect(answer).toEqual({ behavior: 'allow', updatedInput: args.input });
        expect(Object.keys(answer)).toEqual(['behavior', 'updatedInput']);
      });

      it('allows with the reviewer’s edited input when they approved with changes', async () => {
        const args = toolUse(`edit${_name.length}`);
        const safer = { command: `rm -rf build/edit${_name.length}/tmp`, description: 'Clean only the temporary files' };
        const answer = await permission(agent, args, async (approval) => {
          const response = await server.fetch(`/v1/approvals/${approval.id}/decision`, { key: aliceKey, json: { outcome: 'approve', payload: safer } });
          expect(response.status).toBe(200);
        });
        expect(answer).toEqual({ behavior: 'allow', updatedInput: safer });
      });

      it('denies on a rejection, with the reviewer and the reason', async () => {
        const answer = await permission(agent, toolUse(`reject${_name.length}`), (approval) => decide(approval.id, 'reject', 'not on a Friday'));
        expect(Object.keys(answer)).toEqual(['behavior', 'message']);
        expect(answer.behavior).toBe('deny');
        expect(answer.message).toMatch(/^Rejected in Countersign by alice: not on a Friday \(approval apr_\w+\)\.$/);
      });

      it('denies when no one decides in time, and a retry of the same tool use waits on the same approval', async () => {
        const impatient = await connect(agentKey, { project: 'billing-bot', permissionWait: 1 });
        const args = toolUse(`timeout${_name.length}`);
        const first = await permission(impatient, args);
        expect(first.behavior).toBe('deny');
        expect(first.message).toMatch(/^No decision in Countersign within 1 s \(approval (apr_\w+) is still pending\): not approved\.$/);
        const id = /(apr_\w+)/.exec(String(first.message))![1]!;

        const retried = await permission(impatient, args);
        expect(retried.message).toContain(id);
        expect((await pendingApprovals()).filter((approval) => approval.action === 'Bash')).toHaveLength(1);
        await call(agent, 'cancel_approval', { id });
      });

      it('denies with the API\'s reason when the key may not ask', async () => {
        const reader = await connect(readOnlyKey, { project: 'billing-bot' });
        const answer = await permission(reader, toolUse(`scope${_name.length}`));
        expect(answer).toEqual({ behavior: 'deny', message: 'Countersign refused the permission request (403 forbidden: this API key lacks the "intake" scope): not approved.' });
      });
    });
  });
  describe('at the edges', () => {
    it('POST /mcp without a valid key is the API\'s 401, before any MCP', async () => {
      const initialize = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } } };
      const headers = { accept: 'application/json, text/event-stream' };
      const missing = await server.fetch('/mcp', { json: initialize, headers });
      expect(missing.status).toBe(401);
      expect(await missing.json()).toEqual({ error: { code: 'unauthorized', message: 'missing API key: send Authorization: Bearer csk_…' } });
      const forged = await server.fetch('/mcp', { key: 'csk_forged', json: initialize, headers });
      expect(forged.status).toBe(401);

      const answered = await server.fetch('/mcp', { key: agentKey, json: initialize, headers });
      expect(answered.status).toBe(200);
      expect(answered.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await answered.json()).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'countersign' } } });
    });

    it('refuses bad settings in the URL, and methods other than POST', async () => {
      const wait = await server.fetch('/mcp?permissionWait=0', { key: agentKey, json: {} });
      expect(wait.status).toBe(400);
      expect(((await wait.json()) as { error: { code: string } }).error.code).toBe('invalid_permission_wait');
      const project = await server.fetch('/mcp?project=Not%20a%20key', { key: agentKey, json: {} });
      expect(project.status).toBe(400);
      expect((await server.fetch('/mcp', { key: agentKey })).status).toBe(405);
    });

    it('countersign mcp --help lists its environment and takes --json, like every command', async () => {
      const help = await countersign(['mcp', '--help'], { cwd: process.cwd(), env: {} });
      expect(help.code).toBe(0);
      for (const name of ['COUNTERSIGN_URL', 'COUNTERSIGN_KEY', 'COUNTERSIGN_PROJECT', 'COUNTERSIGN_PERMISSION_WAIT', '--json', 'mcp__countersign__approve_tool_use']) expect(help.stdout).toContain(name);
      expect((await countersign(['--help'], { cwd: process.cwd(), env: {} })).stdout).toMatch(/^ {2}mcp \[options\] +run an MCP server on stdio/m);
    });

    it('countersign mcp with no server behind it answers a tool error, and the permission tool a deny', async () => {
      const transport = new StdioClientTransport({ command: process.execPath, args: [BIN, 'mcp'], env: cleanEnv({ COUNTERSIGN_URL: 'http://127.0.0.1:9', COUNTERSIGN_KEY: agentKey, COUNTERSIGN_PROJECT: 'billing-bot' }) as Record<string, string>, stderr: 'pipe' });
      const orphan = new Client({ name: 'test', version: '1.0.0' });
      await orphan.connect(transport);
      clients.push(orphan);
      const refused = await call(orphan, 'request_approval', { action: 'send_email', summary: 'Nobody listens' });
      expect(refused.isError).toBe(true);
      expect(parsed(refused)).toMatchObject({ error: { code: 'unreachable', message: expect.stringContaining('could not reach Countersign at http://127.0.0.1:9') }, status: 503 });
      expect(text(refused)).not.toContain(agentKey);
      const permission = JSON.parse(text(await call(orphan, 'approve_tool_use', { tool_name: 'Bash', input: { command: 'ls' } }))) as { behavior: string; message: string };
      expect(permission.behavior).toBe('deny');
      expect(permission.message).toMatch(/^Countersign refused the permission request \(503 unreachable: /);
    });

    it('countersign mcp without a key exits 2 with one line naming the variable', async () => {
      const run = await countersign(['mcp'], { cwd: process.cwd(), env: { COUNTERSIGN_URL: server.url } });
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^countersign: COUNTERSIGN_KEY: not set; /)]);
    });
  });
});
