/**
 * The MCP tools' cost over the HTTP API they stand on: one approval's whole round trip,
 * `request_approval` → a reviewer decides (local decision API) → `get_decision` answers
 * approved, through `POST /mcp` (Streamable HTTP) and through `countersign mcp` (stdio, itself
 * a client of the HTTP API), against the same three calls made on the HTTP API directly. The
 * three flows take turns on one `countersign serve` (embedded database), so drift hits them alike.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { percentile, prepareAgent, startBenchServer } from './bench-server.ts';

const ROUNDS = 300;
const WARM_UP = 30;

type Flow = () => Promise<void>;

const round = (ms: number) => Number(ms.toFixed(2));
const stats = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50ms: round(percentile(sorted, 50)), p99ms: round(percentile(sorted, 99)), maxMs: round(sorted.at(-1)!) };
};

export async function run(): Promise<Record<string, unknown>> {
  const server = await startBenchServer({}, 18_191);
  const clients: Client[] = [];
  try {
    const { key, reviewerKey } = await prepareAgent(server);
    const api = (pathname: string, init: { key: string; body?: unknown; method?: string }) =>
      fetch(`${server.url}${pathname}`, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: { authorization: `Bearer ${init.key}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
      }).then(async (response) => {
        if (!response.ok) throw new Error(`${pathname}: ${response.status} ${await response.text()}`);
        return (await response.json()) as { id: string; status: string };
      });
    const request = { project: 'bench', action: 'send_email', summary: 'Send the drafted reply', payload: { to: 'ops@acme.example', body: 'x'.repeat(500) }, risk: 'low' };
    const decide = (id: string) => api(`/v1/approvals/${id}/decision`, { key: reviewerKey, body: { outcome: 'approve' } });

    const viaApi: Flow = async () => {
      const { id } = await api('/v1/approvals', { key, body: request });
      await decide(id);
      const answered = await api(`/v1/approvals/${id}?wait=50`, { key });
      if (answered.status !== 'approved') throw new Error(`HTTP API: ${answered.status}`);
    };

    const viaMcp = (client: Client, name: string): Flow => async () => {
      const call = async (tool: string, args: Record<string, unknown>) => {
        const result = (await client.callTool({ name: tool, arguments: args })) as CallToolResult;
        const first = result.content[0];
        if (result.isError || first?.type !== 'text') throw new Error(`${name} ${tool}: ${JSON.stringify(result.content)}`);
        return JSON.parse(first.text) as { id: string; status: string };
      };
      const { id } = await call('request_approval', request);
      await decide(id);
      const answered = await call('get_decision', { id, waitSeconds: 50 });
      if (answered.status !== 'approved') throw new Error(`${name}: ${answered.status}`);
    };

    const http = new Client({ name: 'bench', version: '1' });
    await http.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
    clients.push(http);
    const stdio = new Client({ name: 'bench', version: '1' });
    await stdio.connect(new StdioClientTransport({ command: process.execPath, args: [path.resolve('bin/countersign.js'), 'mcp'], env: { ...(process.env as Record<string, string>), COUNTERSIGN_URL: server.url, COUNTERSIGN_KEY: key, LOG_LEVEL: 'warn' } }));
    clients.push(stdio);

    const flows: Record<string, Flow> = { httpApi: viaApi, mcpHttp: viaMcp(http, 'POST /mcp'), mcpStdio: viaMcp(stdio, 'countersign mcp') };
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(flows).map((name) => [name, []]));
    for (let i = 0; i < WARM_UP + ROUNDS; i++) {
      for (const [name, flow] of Object.entries(flows)) {
        const started = performance.now();
        await flow();
        if (i >= WARM_UP) samples[name]!.push(performance.now() - started);
      }
    }
    const measured = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, stats(values)])) as Record<string, ReturnType<typeof stats>>;
    const overhead = (name: string) => ({ p50ms: round(measured[name]!.p50ms - measured.httpApi!.p50ms), p99ms: round(measured[name]!.p99ms - measured.httpApi!.p99ms) });
    return {
      flow: 'request → decide (local API) → answer approved; one approval per round, the three flows in turn',
      database: 'pglite',
      ...measured,
      overheadOverHttpApi: { mcpHttp: overhead('mcpHttp'), mcpStdio: overhead('mcpStdio') },
    };
  } finally {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await server.stop();
  }
}
