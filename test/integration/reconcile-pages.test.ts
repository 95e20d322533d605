import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { createLogger } from '../../src/config/logger.ts';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { createGitHubAdapter } from '../../src/providers/github/github-adapter.ts';
import { createGitHubClient } from '../../src/providers/github/github-client.ts';
import { receiveProviderWebhook } from '../../src/tickets/receive-provider-webhook.ts';
import { runReconcileTickets } from '../../src/tickets/reconcile-tickets.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'reconcile-pages-secret';

/**
 * Found by the soak (issue 19): a batch's `approved` label was answered 202 and its decision then
 * lost (the instance died after answering, or the work failed), and reconciliation, which is
 * there for exactly that, read only the oldest page of pending tickets. With more pending tickets
 * than a page, the newer ones were never read again and their items stayed pending for good.
 */
describeEachDatabase('reconciliation reads every pending ticket, not only the oldest page', (database) => {
  let fake: FakeGitHub;
  let server: TestServer;
  let agent: string;

  beforeAll(async () => {
    fake = await startFakeGitHub({ secret: SECRET });
    const logger = createLogger('silent');
    const client = createGitHubClient({ apiUrl: fake.url, webhookSecret: SECRET, token: 'ghp_test' }, { logger, writeIntervalMs: 0 });
    server = await startTestServer(database, { env: fake.serverEnv, extraProviders: [createGitHubAdapter(client, { webhookSecret: SECRET, auth: 'token', logger })] });
    const github = { owner: fake.owner, repo: fake.repo };
    await server.projects([
      { key: 'waiting', provider: 'github', github, reviewers: ['alice'] },
      { key: 'pairs', provider: 'github', github, reviewers: ['alice'], batching: { when: { risk: ['low'] }, window: '1h', maxItems: 2 } },
    ]);
    agent = (await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'] })).key;
  });
  afterAll(async () => {
    await server?.close();
    await fake?.stop();
  });

  const intake = async (project: string, n: number, risk: string) => {
    const response = await server.fetch('/v1/approvals', { key: agent, json: { project, action: 'send_email', summary: `item ${n}`, payload: { n }, risk } });
    expect(response.status).toBe(202);
    return (await response.json()) as ApprovalView;
  };
  const view = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agent })).json()) as ApprovalView;
  const ticketed = (id: string) => until(() => view(id), (v) => v.ticket !== null);

  it('decides a batch whose approved label was acknowledged and then lost, behind more older pending tickets than a page', async () => {
    // Requests nobody decides for now, older than the batch: they fill the first page.
    for (const n of [1, 2, 3]) await ticketed((await intake('waiting', n, 'medium')).id);
    const items = [await intake('pairs', 4, 'low'), await intake('pairs', 5, 'low')];
    const issue = Number((await ticketed(items[0]!.id)).ticket!.key.split('#')[1]);

    // alice labels the batch's issue; the webhook is answered 202 and its instance dies before deciding.
    const delivery = fake.label(issue, 'approved', 'alice');
    const headers = { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id, 'x-hub-signature-256': await fake.sign(delivery.body) };
    const answer = await receiveProviderWebhook(server.services, 'github', delivery.body, headers);
    expect(answer.status).toBe(202);
    // GitHub's redelivery (by hand) of that id is a duplicate: only reconciliation can decide it now.
    expect((await receiveProviderWebhook(server.services, 'github', delivery.body, headers)).body).toEqual({ duplicate: true });
    expect((await view(items[0]!.id)).status).toBe('pending');

    const summary = await runReconcileTickets(server.services, { pageSize: 2 });
    expect(summary.attempted).toBe(1);
    for (const item of items) expect((await view(item.id)).status).toBe('approved');
    // The older tickets were read too, and nothing was done to them.
    expect(summary.tickets).toBe(4);
  });
});
