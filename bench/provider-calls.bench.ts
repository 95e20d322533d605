/**
 * GitHub API calls for 25 requests decided through the full lifecycle (ticket opened, approved
 * by a signed `issues.labeled` webhook, outcome written back), one issue each vs. one batch
 * issue, counted by the fake GitHub of the tests (test/helpers/fake-github.ts) that answers the
 * real Octokit client. Issue 7 targets at least 10× fewer calls for the batch.
 *
 *   npm run bench -- provider-calls
 *
 * Calls are counted, not timed, so the server runs in this process (in-memory PGlite).
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
import { startFakeGitHub, type FakeGitHub } from '../test/helpers/fake-github.ts';

const REQUESTS = 25;
const SECRET = 'bench-secret';

async function until(done: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Calls per operation, and in all, made since `mark`. The token's own login (`GET /user`) is
 * looked up once per process, whichever run comes first: left out of both counts.
 */
function tally(fake: FakeGitHub, mark: number) {
  const calls = fake.callsSince(mark).filter((c) => c.operationId !== 'users/get-authenticated');
  const byOperation: Record<string, number> = {};
  for (const call of calls) byOperation[call.operationId] = (byOperation[call.operationId] ?? 0) + 1;
  return { calls: calls.length, writes: calls.filter((c) => c.method !== 'GET').length, byOperation };
}

export async function run(): Promise<Record<string, unknown>> {
  const fake = await startFakeGitHub({ secret: SECRET });
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-'));
  const config = resolveConfig({ PORT: '0', COUNTERSIGN_DATA_DIR: dataDir, GITHUB_TOKEN: 'ghp_bench', GITHUB_API_URL: fake.url, GITHUB_WEBHOOK_SECRET: SECRET });
  const logger = createLogger('silent');
  // No write pacing: the fake is local, and pacing changes time, not the number of calls.
  const adapter = createGitHubAdapter(createGitHubClient(config.github!, { logger, writeIntervalMs: 0 }), { webhookSecret: SECRET, auth: 'token', logger });
  const services = await startServices(config, logger, { workers: true, pollingIntervalSeconds: 0.5, target: { kind: 'pglite', dataDir: 'memory' }, extraProviders: [adapter] });
  const server = await runServer(services);
  try {
    const github = { owner: fake.owner, repo: fake.repo };
    await applyProjects(
      services,
      mappingFileSchema.parse({
        projects: [
          { key: 'single', provider: 'github', github, reviewers: ['alice'] },
          { key: 'batched', provider: 'github', github, reviewers: ['alice'], batching: { when: { risk: ['low'] }, window: '10m', maxItems: REQUESTS } },
        ],
      }).projects,
    );
    const { key } = await createApiKey(services, { name: 'bench', scopes: ['intake', 'read'] });
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const intake = async (project: string, i: number) => {
      const response = await fetch(`${server.url}/v1/approvals`, { method: 'POST', headers, body: JSON.stringify({ project, action: 'tag_ticket', summary: `${project} ${i}`, payload: { i }, risk: 'low' }) });
      if (response.status !== 202) throw new Error(`intake failed: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { id: string }).id;
    };
    const ticketOf = async (id: string) => ((await (await fetch(`${server.url}/v1/approvals/${id}`, { headers })).json()) as { ticket: { key: string } | null }).ticket;
    const statuses = (ids: string[]) => services.db.selectFrom('approvals').select('status').where('id', 'in', ids).execute();
    const approve = async (issue: number) => {
      const delivery = fake.label(issue, 'approved', 'alice');
      const response = await fetch(`${server.url}/webhooks/github`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id, 'x-hub-signature-256': await fake.sign(delivery.body) },
        body: delivery.body,
      });
      if (response.status !== 202) throw new Error(`webhook refused: ${response.status}`);
    };
    const settled = (issues: number[]) => issues.every((n) => fake.issues.get(n)?.state === 'closed' && fake.issues.get(n)!.comments.length === 1);

    // 25 requests, one issue each.
    let mark = fake.calls.length;
    const single: string[] = [];
    for (let i = 0; i < REQUESTS; i++) single.push(await intake('single', i));
    const singleIssues: number[] = [];
    for (const id of single) {
      let ticket = await ticketOf(id);
      await until(async () => (ticket = await ticketOf(id)) !== null, `the ticket of ${id}`);
      singleIssues.push(Number(ticket!.key.split('#')[1]));
    }
    for (const issue of singleIssues) await approve(issue);
    await until(async () => (await statuses(single)).every((r) => r.status === 'approved') && settled(singleIssues), 'the single issues to close');
    const singleCount = tally(fake, mark);

    // The same 25 requests as one batch.
    mark = fake.calls.length;
    const batched = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => intake('batched', i)));
    let batchTicket = await ticketOf(batched[0]!);
    await until(async () => (batchTicket = await ticketOf(batched[0]!)) !== null, 'the batch ticket');
    const batchIssue = Number(batchTicket!.key.split('#')[1]);
    await approve(batchIssue);
    await until(async () => (await statuses(batched)).every((r) => r.status === 'approved') && settled([batchIssue]), 'the batch issue to close');
    const batchCount = tally(fake, mark);

    if (fake.invalid.length > 0) throw new Error(`invalid GitHub requests: ${fake.invalid.join('; ')}`);
    const ratio = Math.round((singleCount.calls / batchCount.calls) * 10) / 10;
    return {
      requests: REQUESTS,
      single: { issues: singleIssues.length, ...singleCount, perRequest: singleCount.calls / REQUESTS },
      batched: { issues: 1, ...batchCount, perRequest: batchCount.calls / REQUESTS },
      fewerCallsRatio: ratio,
      target: '≥ 10× fewer',
      met: ratio >= 10,
    };
  } finally {
    await server.close();
    await fake.stop();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}
