import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { runBatchClose } from '../../src/batching/batches.ts';
import { createLogger } from '../../src/config/logger.ts';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { createGitHubAdapter } from '../../src/providers/github/github-adapter.ts';
import { createGitHubClient } from '../../src/providers/github/github-client.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'batch-close-secret';

/** Found by the soak (issue 19): a full batch kept taking items, and close jobs running at once each opened an issue. */
describeEachDatabase('closing a batch', (database) => {
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
      { key: 'pairs', provider: 'github', github, reviewers: ['alice'], batching: { when: { risk: ['low'] }, window: '1h', maxItems: 2 } },
      { key: 'slow', provider: 'github', github, reviewers: ['alice'], batching: { when: { risk: ['low'] }, window: '1h', maxItems: 25 } },
    ]);
    agent = (await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'] })).key;
  });
  afterAll(async () => {
    await server?.close();
    await fake?.stop();
  });

  const intake = async (project: string, n: number) => {
    const response = await server.fetch('/v1/approvals', { key: agent, json: { project, action: 'send_email', summary: `item ${n}`, payload: { n }, risk: 'low' } });
    expect(response.status).toBe(202);
    return (await response.json()) as ApprovalView;
  };
  const issuesNaming = (batchId: string) => [...fake.issues.values()].filter((issue) => issue.body.includes(`<!-- countersign:${batchId} -->`));

  it('takes no item past maxItems: the item that fills a batch closes it, and the next one opens another', async () => {
    const [first, second, third] = [await intake('pairs', 1), await intake('pairs', 2), await intake('pairs', 3)];
    expect(first!.batchId).toBe(second!.batchId);
    expect(third!.batchId).not.toBe(first!.batchId);
    await until(() => issuesNaming(first!.batchId!), (issues) => issues.length > 0);
    const [issue] = issuesNaming(first!.batchId!);
    expect(issue!.body).toContain(first!.id);
    expect(issue!.body).toContain(second!.id);
    expect(issue!.body).not.toContain(third!.id);
  });

  it('opens one issue when two close runs of the same batch meet', async () => {
    const item = await intake('slow', 1);
    const batchId = item.batchId!;
    // The window's job and a retry of it (or a killed instance's run) at the same moment.
    await Promise.all([runBatchClose(server.services, { batchId }), runBatchClose(server.services, { batchId }, { attempt: 2 })]);
    expect(issuesNaming(batchId)).toHaveLength(1);
    // Audit records may reach the chain through its queue a moment after the commit.
    const ofBatch = async () => (await server.services.db.selectFrom('audit_records').select('data').where('event', '=', 'ticket.created').where('approval_id', 'is', null).execute()).filter((record) => (record.data as { batchId?: string }).batchId === batchId);
    expect(await until(ofBatch, (records) => records.length > 0)).toHaveLength(1);
    const stored = (await (await server.fetch(`/v1/approvals/${item.id}`, { key: agent })).json()) as ApprovalView;
    expect(stored.ticket?.key).toBe(`${fake.owner}/${fake.repo}#${issuesNaming(batchId)[0]!.number}`);
  });
});
