/**
 * GitHub webhook received → decision visible (long poll answered) and → callback received, on
 * loopback: a real server (in-memory PGlite, in this process), the fake GitHub of the tests,
 * 100 approvals each decided by a signed `issues.labeled` delivery while the agent long-polls
 * and waits for its callback. GitHub's own delivery delay comes on top; this is the part that
 * is Countersign's.
 *
 *   npm run bench -- github-webhook
 */
import { startCallbackReceiver } from '../test/helpers/callback-receiver.ts';
import { percentile } from './bench-server.ts';
import { startGitHubStand } from './github-stand.ts';

const SAMPLES = 100;

export async function run(): Promise<Record<string, unknown>> {
  const stand = await startGitHubStand((github) => [{ key: 'bench', provider: 'github', github, reviewers: ['alice'] }]);
  const receiver = await startCallbackReceiver();
  try {
    const headers = await stand.agent({ callbackHosts: ['127.0.0.1'] });
    const answered: number[] = [];
    const calledBack: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const intake = await fetch(`${stand.server.url}/v1/approvals`, { method: 'POST', headers, body: JSON.stringify({ project: 'bench', action: 'a', summary: `bench ${i}`, payload: { i }, callbackUrl: receiver.url }) });
      const { id } = (await intake.json()) as { id: string };
      const issue = await stand.ticketNumber(id, headers);
      const poll = fetch(`${stand.server.url}/v1/approvals/${id}?wait=30`, { headers }).then(() => performance.now());
      await new Promise((resolve) => setTimeout(resolve, 30));
      const sent = performance.now();
      const sentAt = Date.now();
      await stand.approve(issue);
      answered.push((await poll) - sent);
      // The receiver stamps with Date.now().
      calledBack.push((await receiver.waitFor(i + 1))[i]!.at - sentAt);
    }
    const summary = (values: number[]) => {
      values.sort((a, b) => a - b);
      return { p50ms: Number(percentile(values, 50).toFixed(1)), p99ms: Number(percentile(values, 99).toFixed(1)), maxMs: Number(percentile(values, 100).toFixed(1)) };
    };
    return { samples: SAMPLES, webhookToLongPollAnswer: summary(answered), webhookToCallbackReceived: summary(calledBack) };
  } finally {
    await receiver.close();
    await stand.close();
  }
}
