import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCountersignClient } from '../src/client/index.ts';
import { percentile, prepareAgent, startBenchServer } from './bench-server.ts';

const APPROVALS = 1000;
const LONG_POLLS = 200;

/**
 * Decision → callback received, on loopback, over 1,000 approvals (target p99 < 100 ms), and
 * how long after the decision the client's long poll answers (target < 50 ms).
 */
export async function run(): Promise<Record<string, unknown>> {
  const arrivals = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const at = performance.now();
      const id = (JSON.parse(Buffer.concat(chunks).toString()) as { data: { id: string } }).data.id;
      arrivals.set(id, at);
      waiting.get(id)?.();
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const callbackUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  const server = await startBenchServer({}, 18_183);
  try {
    const agent = await prepareAgent(server, { callbackHosts: '127.0.0.1' });
    const client = createCountersignClient({ baseUrl: server.url, apiKey: agent.key });
    const decide = (id: string) =>
      fetch(`${server.url}/v1/approvals/${id}/decision`, { method: 'POST', headers: { authorization: `Bearer ${agent.reviewerKey}`, 'content-type': 'application/json' }, body: '{"outcome":"approve"}' });

    const callbackMs: number[] = [];
    for (let i = 0; i < APPROVALS; i++) {
      const { id } = await client.requestApproval({ project: 'bench', action: 'send_email', summary: `bench ${i}`, payload: { i }, callbackUrl });
      const arrived = new Promise<void>((resolve) => waiting.set(id, resolve));
      const decidedAt = performance.now();
      const response = await decide(id);
      if (!response.ok) throw new Error(`decision failed: ${response.status}`);
      await arrived;
      waiting.delete(id);
      callbackMs.push(arrivals.get(id)! - decidedAt);
    }

    const longPollMs: number[] = [];
    for (let i = 0; i < LONG_POLLS; i++) {
      const { id } = await client.requestApproval({ project: 'bench', action: 'send_email', summary: `poll ${i}`, payload: { i } });
      const answered = client.waitForDecision(id, { timeoutMs: 30_000 }).then(() => performance.now());
      await new Promise((resolve) => setTimeout(resolve, 20)); // the poll is parked on the server
      const response = await decide(id);
      const decidedAt = performance.now();
      if (!response.ok) throw new Error(`decision failed: ${response.status}`);
      longPollMs.push(Math.max(0, (await answered) - decidedAt));
    }

    callbackMs.sort((a, b) => a - b);
    longPollMs.sort((a, b) => a - b);
    const round = (n: number) => Number(n.toFixed(1));
    return {
      database: 'pglite',
      decisionToCallbackMs: { n: callbackMs.length, p50: round(percentile(callbackMs, 50)), p99: round(percentile(callbackMs, 99)), max: round(callbackMs.at(-1)!) },
      decisionToLongPollAnswerMs: { n: longPollMs.length, p50: round(percentile(longPollMs, 50)), p99: round(percentile(longPollMs, 99)), max: round(longPollMs.at(-1)!) },
    };
  } finally {
    await server.stop();
    receiver.close();
    receiver.closeAllConnections();
  }
}
