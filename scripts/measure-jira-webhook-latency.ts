/**
 * Webhook received → agent callback received, on loopback: a real server (in-memory PGlite, or
 * PostgreSQL with DATABASE_URL), the fake Jira Cloud from the tests, N approvals each decided by a
 * signed `jira:issue_updated` status move, the agent's callback endpoint on 127.0.0.1. Prints
 * p50/p99/max in ms, and the Jira API calls made per approval.
 *
 *   node --import tsx scripts/measure-jira-webhook-latency.ts [N]
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../src/config.ts';
import { createApiKey } from '../src/keys/api-keys.ts';
import { createLogger } from '../src/logger.ts';
import { mappingFileSchema } from '../src/projects/mapping-schema.ts';
import { applyProjects } from '../src/projects/project-store.ts';
import { runServer } from '../src/server/run-server.ts';
import { startServices } from '../src/start-services.ts';
import { startCallbackReceiver } from '../test/helpers/callback-receiver.ts';
import { percentile } from '../bench/bench-server.ts';
import { startFakeJira } from '../test/helpers/fake-jira.ts';

const N = Number(process.argv[2] ?? 100);
const SECRET = 'bench-secret';
const jira = await startFakeJira({ secret: SECRET });
const receiver = await startCallbackReceiver();
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-'));
const config = resolveConfig({ PORT: '0', COUNTERSIGN_DATA_DIR: dataDir, JIRA_HOST: jira.url, JIRA_EMAIL: jira.email, JIRA_API_TOKEN: jira.apiToken, JIRA_WEBHOOK_SECRET: SECRET });
const logger = createLogger('silent');
const target = process.env.DATABASE_URL ? ({ kind: 'postgres', url: process.env.DATABASE_URL } as const) : ({ kind: 'pglite', dataDir: 'memory' } as const);
const services = await startServices(config, logger, { workers: true, pollingIntervalSeconds: 0.5, target });
const server = await runServer(services);
const mapping = { key: 'bench', provider: 'jira', jira: { project: 'OPS', issueType: 'Task', approvedStatus: 'Approved', rejectedStatus: 'Rejected' }, reviewers: ['acc-alice'] };
await applyProjects(services, mappingFileSchema.parse({ projects: [mapping] }).projects);
const { key } = await createApiKey(services, { name: 'bench', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

const samples: number[] = [];
for (let i = 0; i < N; i++) {
  const intake = await fetch(`${server.url}/v1/approvals`, { method: 'POST', headers: auth, body: JSON.stringify({ project: 'bench', action: 'a', summary: `bench ${i}`, payload: { i }, callbackUrl: receiver.url }) });
  const { id } = (await intake.json()) as { id: string };
  let ticket: { key: string } | null = null;
  while (!ticket) {
    ticket = ((await (await fetch(`${server.url}/v1/approvals/${id}`, { headers: auth })).json()) as { ticket: { key: string } | null }).ticket;
    if (!ticket) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const delivery = jira.transition(ticket.key, 'Approved', 'acc-alice');
  const sent = Date.now();
  await fetch(`${server.url}/webhooks/jira`, { method: 'POST', headers: jira.headers(delivery), body: delivery.body });
  const [callback] = (await receiver.waitFor(i + 1, 30_000)).slice(-1);
  samples.push(callback!.at - sent);
}
// Let the last decision comments land before counting calls.
await new Promise((resolve) => setTimeout(resolve, 2000));
const perIssue = new Map<string, number>();
for (const call of jira.calls) if (call.issue && call.status < 300) perIssue.set(call.issue, (perIssue.get(call.issue) ?? 0) + 1);
const counts = [...perIssue.values()];
samples.sort((a, b) => a - b);
const at = (q: number) => percentile(samples, q * 100).toFixed(0);
console.log(`database: ${target.kind}; webhook received → callback received, ${N} samples on loopback: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`);
console.log(`Jira API calls per approval: max ${Math.max(...counts)}, mean ${(counts.reduce((a, b) => a + b, 0) / counts.length).toFixed(2)}; per process: ${jira.calls.filter((c) => !c.issue).map((c) => c.operation).join(', ')}`);
await server.close();
await receiver.close();
await jira.stop();
await fs.rm(dataDir, { recursive: true, force: true });
