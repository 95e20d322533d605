/**
 * Jira webhook received → agent callback received, on loopback: a real server (in-memory
 * PGlite, in this process), the fake Jira Cloud of the tests, 100 approvals each decided by a
 * signed `jira:issue_updated` status move, the agent's callback endpoint on 127.0.0.1; and the
 * Jira API calls each approval cost.
 *
 *   npm run bench -- jira-webhook
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../src/config/config.ts';
import { createApiKey } from '../src/keys/api-keys.ts';
import { createLogger } from '../src/config/logger.ts';
import { mappingFileSchema } from '../src/projects/mapping-schema.ts';
import { applyProjects } from '../src/projects/project-store.ts';
import { runServer } from '../src/server/run-server.ts';
import { startServices } from '../src/start-services.ts';
import { startCallbackReceiver } from '../test/helpers/callback-receiver.ts';
import { startFakeJira } from '../test/helpers/fake-jira.ts';
import { percentile } from './bench-server.ts';

const SAMPLES = 100;
const SECRET = 'bench-secret';

export async function run(): Promise<Record<string, unknown>> {
  const jira = await startFakeJira({ secret: SECRET });
  const receiver = await startCallbackReceiver();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-'));
  const config = resolveConfig({ PORT: '0', COUNTERSIGN_DATA_DIR: dataDir, ...jira.serverEnv });
  const services = await startServices(config, createLogger('silent'), { workers: true, pollingIntervalSeconds: 0.5, target: { kind: 'pglite', dataDir: 'memory' } });
  const server = await runServer(services);
  try {
    const mapping = { key: 'bench', provider: 'jira', jira: { project: 'OPS', issueType: 'Task', approvedStatus: 'Approved', rejectedStatus: 'Rejected' }, reviewers: ['acc-alice'] };
    await applyProjects(services, mappingFileSchema.parse({ projects: [mapping] }).projects);
    const { key } = await createApiKey(services, { name: 'bench', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

    const samples: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const intake = await fetch(`${server.url}/v1/approvals`, { method: 'POST', headers, body: JSON.stringify({ project: 'bench', action: 'a', summary: `bench ${i}`, payload: { i }, callbackUrl: receiver.url }) });
      const { id } = (await intake.json()) as { id: string };
      let ticket: { key: string } | null = null;
      while (!ticket) {
        ticket = ((await (await fetch(`${server.url}/v1/approvals/${id}`, { headers })).json()) as { ticket: { key: string } | null }).ticket;
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
    return {
      samples: SAMPLES,
      webhookToCallbackReceived: { p50ms: percentile(samples, 50), p99ms: percentile(samples, 99), maxMs: percentile(samples, 100) },
      jiraCallsPerApproval: { max: Math.max(...counts), mean: Number((counts.reduce((a, b) => a + b, 0) / counts.length).toFixed(2)) },
      jiraCallsPerProcess: jira.calls.filter((c) => !c.issue).map((c) => c.operation),
    };
  } finally {
    await server.close();
    await receiver.close();
    await jira.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}
