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
import type { FakeGitHub } from '../test/helpers/fake-github.ts';
import { startGitHubStand } from './github-stand.ts';

const REQUESTS = 25;

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
  const stand = await startGitHubStand((github) => [
    { key: 'single', provider: 'github', github, reviewers: ['alice'] },
    { key: 'batched', provider: 'github', github, reviewers: ['alice'], batching: { when: { risk: ['low'] }, window: '10m', maxItems: REQUESTS } },
  ]);
  const { fake, server, services } = stand;
  try {
    const headers = await stand.agent();
    const intake = async (project: string, i: number) => {
      const response = await fetch(`${server.url}/v1/approvals`, { method: 'POST', headers, body: JSON.stringify({ project, action: 'tag_ticket', summary: `${project} ${i}`, payload: { i }, risk: 'low' }) });
      if (response.status !== 202) throw new Error(`intake failed: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { id: string }).id;
    };
    const statuses = (ids: string[]) => services.db.selectFrom('approvals').select('status').where('id', 'in', ids).execute();
    const settled = (issues: number[]) => issues.every((n) => fake.issues.get(n)?.state === 'closed' && fake.issues.get(n)!.comments.length === 1);

    // 25 requests, one issue each.
    let mark = fake.calls.length;
    const single: string[] = [];
    for (let i = 0; i < REQUESTS; i++) single.push(await intake('single', i));
    const singleIssues: number[] = [];
    for (const id of single) singleIssues.push(await stand.ticketNumber(id, headers));
    for (const issue of singleIssues) await stand.approve(issue);
    await until(async () => (await statuses(single)).every((r) => r.status === 'approved') && settled(singleIssues), 'the single issues to close');
    const singleCount = tally(fake, mark);

    // The same 25 requests as one batch.
    mark = fake.calls.length;
    const batched = await Promise.all(Array.from({ length: REQUESTS }, (_, i) => intake('batched', i)));
    const batchIssue = await stand.ticketNumber(batched[0]!, headers);
    await stand.approve(batchIssue);
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
    await stand.close();
  }
}
