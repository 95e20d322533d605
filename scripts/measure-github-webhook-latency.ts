/**
 * Webhook received → decision visible and → callback received, on loopback: a real server
 * (in-memory PGlite), the fake GitHub from the tests, N approvals each decided by a signed
 * `issues.labeled` delivery while the agent long-polls and waits for its callback. Prints
 * p50/p99/max in ms.
 *
 *   node --import tsx scripts/measure-github-webhook-latency.ts [N]
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../src/config.ts';
import { createApiKey } from '../src/keys/api-keys.ts';
import { createLogger } from '../src/logger.ts';
import { mappingFileSchema } from '../src/projects/mapping-schema.ts';
import { applyProjects } from '../src/projects/project-store.ts';
import { createGitHubAdapter } from '../src/providers/github/github-adapter.ts';
import { createGitHubClient } from '../src/providers/github/github-client.ts';
import { runServer } from '../src/server/run-server.ts';
import { startServices } from '../src/start-services.ts';
import { percentile } from '../bench/bench-server.ts';
import { startCallbackReceiver } from '../test/helpers/callback-receiver.ts';
import { startFakeGitHub } from '../test/helpers/fake-github.ts';

const N = Number(process.argv[2] ?? 100);
const SECRET = 'bench-secret';
const fake = await startFakeGitHub({ secret: SECRET });
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-'));
const config = resolveConfig({ PORT: '0', COUNTERSIGN_DATA_DIR: dataDir, GITHUB_TOKEN: 'ghp_bench', GITHUB_API_URL: fake.url, GITHUB_WEBHOOK_SECRET: SECRET });
const logger = createLogger('silent');
const adapter = createGitHubAdapter(createGitHubClient(config.github!, { logger, writeIntervalMs: 0 }), { webhookSecret: SECRET, auth: 'token', logger });
const services = await startServices(config, logger, { workers: true, pollingIntervalSeconds: 0.5, target: { kind: 'pglite', dataDir: 'memory' }, extraProviders: [adapter] });
const server = await runServer(services);
await applyProjects(services, mappingFileSchema.parse({ projects: [{ key: 'bench', provider: 'github', github: { owner: fake.owner, repo: fake.repo }, reviewers: ['alice'] }] }).projects);
const receiver = await startCallbackReceiver();
const { key } = await createApiKey(services, { name: 'bench', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
const auth = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

const samples: number[] = [];
const callbackSamples: number[] = [];
for (let i = 0; i < N; i++) {
  const intake = await fetch(`${server.url}/v1/approvals`, { method: 'POST', headers: auth, body: JSON.stringify({ project: 'bench', action: 'a', summary: `bench ${i}`, payload: { i }, callbackUrl: receiver.url }) });
  const { id } = (await intake.json()) as { id: string };
  let ticket: { key: string } | null = null;
  while (!ticket) {
    ticket = ((await (await fetch(`${server.url}/v1/approvals/${id}`, { headers: auth })).json()) as { ticket: { key: string } | null }).ticket;
    if (!ticket) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const poll = fetch(`${server.url}/v1/approvals/${id}?wait=30`, { headers: auth }).then(() => performance.now());
  await new Promise((resolve) => setTimeout(resolve, 30));
  const delivery = fake.label(Number(ticket.key.split('#')[1]), 'approved', 'alice');
  const signature = await fake.sign(delivery.body);
  const sent = performance.now();
  await fetch(`${server.url}/webhooks/github`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id, 'x-hub-signature-256': signature }, body: delivery.body });
  samples.push((await poll) - sent);
  const callbacks = await receiver.waitFor(i + 1);
  // The receiver stamps with Date.now(); convert the send time to the same clock.
  callbackSamples.push(callbacks[i]!.at - (Date.now() - (performance.now() - sent)));
}
const report = (name: string, values: number[]) => {
  values.sort((a, b) => a - b);
  const at = (q: number) => percentile(values, q * 100).toFixed(1);
  console.log(`webhook received → ${name}, ${N} samples on loopback: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`);
};
report('decision visible (long poll answered)', samples);
report('callback received', callbackSamples);
await receiver.close();
await server.close();
await fake.stop();
await fs.rm(dataDir, { recursive: true, force: true });
