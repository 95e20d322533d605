/**
 * Slack interaction received → agent callback received, on loopback: a real server (in-memory
 * PGlite, in this process), the fake Slack Web API of the tests driven by the real
 * `@slack/web-api`, 100 approvals of a `provider: slack` project each decided by a signed
 * Approve click (stored, acknowledged, then decided by the `slack-delivery` job), the agent's
 * callback endpoint on 127.0.0.1; and the Slack API calls each approval's lifecycle cost
 * (target ≤ 3: post, and the update that shows the decision).
 *
 *   npm run bench -- slack
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
import { startFakeSlack } from '../test/helpers/fake-slack.ts';
import { percentile } from './bench-server.ts';

const SAMPLES = 100;
const CHANNEL = 'C0BENCH01';
/**
 * A person clicks seconds after the message appears, not in the same millisecond: the click is
 * sent once the post's own job has finished its bookkeeping (this long after the ticket is
 * stored). `clickedAtOnce` measures the click racing that bookkeeping on the one PGlite
 * connection, too.
 */
const SETTLE_MS = 200;

export async function run(): Promise<Record<string, unknown>> {
  const slack = await startFakeSlack({ channels: [CHANNEL] });
  const receiver = await startCallbackReceiver();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-'));
  const config = resolveConfig({ PORT: '0', COUNTERSIGN_DATA_DIR: dataDir, ...slack.serverEnv });
  const services = await startServices(config, createLogger('silent'), { workers: true, pollingIntervalSeconds: 0.5, target: { kind: 'pglite', dataDir: 'memory' } });
  const server = await runServer(services);
  try {
    const mapping = { key: 'bench', provider: 'slack', slack: { channel: CHANNEL }, reviewers: ['U0ALICE01'] };
    await applyProjects(services, mappingFileSchema.parse({ projects: [mapping] }).projects);
    const { key } = await createApiKey(services, { name: 'bench', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };

    const samples: number[] = [];
    const acks: number[] = [];
    const raced: number[] = [];
    for (let i = 0; i < SAMPLES * 2; i++) {
      const atOnce = i >= SAMPLES;
      const intake = await fetch(`${server.url}/v1/approvals`, { method: 'POST', headers, body: JSON.stringify({ project: 'bench', action: 'a', summary: `bench ${i}`, payload: { i }, callbackUrl: receiver.url }) });
      const { id } = (await intake.json()) as { id: string };
      let message = slack.messageFor(id);
      while (!message || !((await (await fetch(`${server.url}/v1/approvals/${id}`, { headers })).json()) as { ticket: unknown }).ticket) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        message = slack.messageFor(id);
      }
      if (!atOnce) await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
      const click = slack.click(message, 'U0ALICE01', 'countersign_approve');
      const sent = Date.now();
      await fetch(`${server.url}/webhooks/slack/interactions`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...click.headers }, body: click.body });
      if (!atOnce) acks.push(Date.now() - sent);
      const [callback] = (await receiver.waitFor(i + 1, 30_000)).slice(-1);
      (atOnce ? raced : samples).push(callback!.at - sent);
    }
    // Let every message update land (the ticket-update jobs trail the callbacks) before counting calls.
    const updated = () => slack.calls.filter((c) => c.method === 'chat.update' && c.ok).length;
    for (let waited = 0; updated() < SAMPLES * 2 && waited < 30_000; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    // Calls per approval: its post (named by the message's metadata) and every call on its message's ts.
    // Reconciliation's reads (conversations.replies, once a minute per pending message) are counted apart.
    const approvalOfTs = new Map(slack.messages.filter((m) => m.metadata).map((m) => [m.ts, (m.metadata!.event_payload as { approval_id: string }).approval_id]));
    const perMessage = new Map<string, number>();
    let reconcileReads = 0;
    for (const call of slack.calls) {
      if (!call.ok) continue;
      if (call.method === 'conversations.replies') {
        reconcileReads += 1;
        continue;
      }
      const posted = (call.args.metadata as { event_payload?: { approval_id?: string } } | undefined)?.event_payload?.approval_id;
      const approval = posted ?? approvalOfTs.get(String(call.args.ts ?? call.args.thread_ts));
      if (approval) perMessage.set(approval, (perMessage.get(approval) ?? 0) + 1);
    }
    const counts = [...perMessage.values()];
    samples.sort((a, b) => a - b);
    acks.sort((a, b) => a - b);
    raced.sort((a, b) => a - b);
    return {
      samples: SAMPLES,
      interactionToCallbackReceived: { p50ms: percentile(samples, 50), p99ms: percentile(samples, 99), maxMs: percentile(samples, 100), targetP99Ms: 100 },
      interactionAcknowledged: { p50ms: percentile(acks, 50), p99ms: percentile(acks, 99) },
      clickedAtOnce: { p50ms: percentile(raced, 50), p99ms: percentile(raced, 99), maxMs: percentile(raced, 100) },
      slackCallsPerApproval: { max: Math.max(...counts), mean: Number((counts.reduce((a, b) => a + b, 0) / counts.length).toFixed(2)), target: 3 },
      reconciliationReads: reconcileReads,
      slackMethods: [...new Set(slack.calls.map((c) => c.method))],
      invalidCalls: slack.invalid.length,
    };
  } finally {
    await server.close();
    await receiver.close();
    await slack.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}
