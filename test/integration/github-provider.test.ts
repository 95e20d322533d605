import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { verifyCallback } from '../../src/client/index.ts';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { runReconcileTickets } from '../../src/tickets/reconcile-tickets.ts';
import { createLogger } from '../../src/config/logger.ts';
import { createGitHubAdapter } from '../../src/providers/github/github-adapter.ts';
import { createGitHubClient } from '../../src/providers/github/github-client.ts';
import { readApprovalMarker } from '../../src/providers/github/github-issue-body.ts';
import type { ProviderAdapter } from '../../src/providers/provider-adapter.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type Delivery, type FakeGitHub } from '../helpers/fake-github.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';

const SECRET = 'test-webhook-secret';

describeEachDatabase('GitHub provider', (database) => {
  let fake: FakeGitHub;
  let server: TestServer;
  let agentKey: string;
  let agentWebhookSecret: string;
  let receiver: CallbackReceiver;
  /** Approvals whose first ticket-create attempt "crashes" right after GitHub opened the issue. */
  const crashAfterCreate = new Set<string>();

  beforeAll(async () => {
    fake = await startFakeGitHub({ secret: SECRET });
    receiver = await startCallbackReceiver();
    const logger = createLogger('silent');
    const github = { apiUrl: fake.url, webhookSecret: SECRET, token: 'ghp_test' };
    const client = createGitHubClient(github, { logger, writeIntervalMs: 0, retryAfterBaseMs: 10 });
    const adapter = createGitHubAdapter(client, { webhookSecret: SECRET, auth: 'token', logger });
    // A spy that only injects a failure: the issue is opened, then the job dies before storing it.
    const crashing: ProviderAdapter = {
      ...adapter,
      async createTicket(request) {
        const ticket = await adapter.createTicket(request);
        if (crashAfterCreate.delete(request.summary)) throw new Error('simulated crash between "GitHub created it" and "we stored it"');
        return ticket;
      },
    };
    server = await startTestServer(database, {
      env: fake.serverEnv,
      extraProviders: [crashing],
    });
    const github_ = { owner: fake.owner, repo: fake.repo };
    await server.projects([
      { key: 'billing-bot', provider: 'github', github: github_, reviewers: ['alice', 'bob'], requiredApprovals: 1 },
      { key: 'quorum-bot', provider: 'github', github: github_, reviewers: ['alice', 'bob', 'carol'], requiredApprovals: 2 },
    ]);
    const agent = await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    agentKey = agent.key;
    agentWebhookSecret = agent.webhookSecret;
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
    await fake?.stop();
  });

  const get = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;
  const issueNumber = (view: ApprovalView) => Number(view.ticket!.key.split('#')[1]);

  async function request(project: string, summary: string): Promise<{ id: string; issue: number }> {
    const intake = await server.fetch('/v1/approvals', {
      key: agentKey,
      json: {
        project,
        action: 'send_email',
        summary,
        details: 'Reply drafted by the agent.',
        payload: { to: 'ops@acme.example', body: 'Hi ```there```' },
        risk: 'medium',
        requestedBy: 'agent-7',
        callbackUrl: receiver.url,
      },
    });
    expect(intake.status).toBe(202);
    const { id } = (await intake.json()) as { id: string };
    const view = await until(() => get(id), (v) => v.ticket !== null);
    return { id, issue: issueNumber(view) };
  }

  async function deliver(delivery: Delivery, signature?: string | null): Promise<Response> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id };
    const sig = signature === undefined ? await fake.sign(delivery.body) : signature;
    if (sig !== null) headers['x-hub-signature-256'] = sig;
    return fetch(`${server.url}/webhooks/github`, { method: 'POST', headers, body: delivery.body });
  }

  /** The agent's callback for one approval, checked with the standardwebhooks verifier and the signed receipt. */
  async function callbackFor(id: string): Promise<{ type: string; data: { id: string; status: string; decision: { by: string[]; reason: string | null } } }> {
    const callback = await until(
      () => receiver.received.find((c) => (JSON.parse(c.body) as { data: { id: string } }).data.id === id),
      (found) => found !== undefined,
    );
    verifyCallback(callback!.body, callback!.headers, agentWebhookSecret, { publicKey: server.services.signer.publicKeyPem });
    return new Webhook(agentWebhookSecret).verify(callback!.body, callback!.headers) as Awaited<ReturnType<typeof callbackFor>>;
  }

  const votes = (id: string) => server.services.db.selectFrom('decision_votes').selectAll().where('approval_id', '=', id).execute();
  const commentsOf = (issue: number) => fake.issues.get(issue)!.comments.map((c) => c.body);

  it('answers ping', async () => {
    const response = await deliver({ event: 'ping', id: 'ping-1', body: JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 }) });
    expect(response.status).toBe(200);
  });

  it('full approve: one issue call to open, the label decides, the long poll wakes, the issue is closed — 3 API calls', async () => {
    const mark = fake.calls.length;
    const { id, issue } = await request('billing-bot', 'Send the reply to ACME');
    const opened = fake.issues.get(issue)!;
    expect(opened.labels).toEqual(['approval:pending', 'risk:medium']);
    expect(opened.assignees).toEqual(['alice', 'bob']);
    expect(opened.body).toContain(`<!-- countersign:${id} -->`);
    expect(opened.body).toContain('sha256:');
    expect(opened.body).toContain('````json'); // the payload's own ``` cannot close the fence

    const poll = server.fetch(`/v1/approvals/${id}?wait=20`, { key: agentKey });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const response = await deliver(fake.label(issue, 'approved', 'alice'));
    expect(response.status).toBe(202);
    const answered = (await (await poll).json()) as ApprovalView;
    expect(answered.status).toBe('approved');
    expect(answered.decision).toMatchObject({ outcome: 'approved', by: ['alice'] });
    const callback = await callbackFor(id);
    expect(callback.type).toBe('approval.decided');
    expect(callback.data).toMatchObject({ id, status: 'approved', decision: { by: ['alice'] } });

    await until(() => fake.issues.get(issue)!, (i) => i.state === 'closed' && i.comments.length === 1);
    expect(fake.issues.get(issue)).toMatchObject({ state: 'closed', state_reason: 'completed', labels: ['risk:medium', 'approved'] });
    expect(commentsOf(issue)).toEqual(['Approved by @alice, 1 of 1 — agent notified.']);

    const lifecycle = fake.callsSince(mark).filter((c) => c.operationId !== 'users/get-authenticated');
    expect(lifecycle.map((c) => c.operationId)).toEqual(['issues/create', 'issues/update', 'issues/create-comment']);
    console.info(`[github] API calls per approval lifecycle: ${lifecycle.length} (${lifecycle.map((c) => c.operationId).join(', ')})`);
    expect(fake.invalid).toEqual([]);
  });

  it('an agent cannot pre-approve its request, forge the marker or hide the payload behind its own text', async () => {
    const intake = await server.fetch('/v1/approvals', {
      key: agentKey,
      json: {
        project: 'billing-bot',
        // Single-line fields refuse line breaks at intake (hostile-input.test.ts); what remains must still not render.
        action: 'send_email - [x] done',
        summary: 'Routine <!-- hide @bob',
        details: '````\n<details><summary>Approve</summary>\n<!-- countersign:apr_0ther -->',
        payload: { to: 'attacker@evil.example' },
        labels: ['approved', 'Risk:low', 'urgent'],
        requestedBy: '@bob',
        callbackUrl: receiver.url,
      },
    });
    expect(intake.status).toBe(202);
    const { id } = (await intake.json()) as { id: string };
    const issue = fake.issues.get(issueNumber(await until(() => get(id), (v) => v.ticket !== null)))!;
    expect(issue.labels).toEqual(['approval:pending', 'risk:medium', 'urgent']);
    expect(issue.title).toBe('Routine <!-- hide @bob');
    expect(readApprovalMarker(issue.body)).toBe(id);
    expect(issue.body.indexOf('attacker@evil.example')).toBeLessThan(issue.body.indexOf('<details>'));
    // The approved label was not already there, so a reviewer adding it is a decision.
    expect((await deliver(fake.label(issue.number, 'approved', 'alice'))).status).toBe(202);
    expect((await callbackFor(id)).data).toMatchObject({ id, status: 'approved', decision: { by: ['alice'] } });
    expect(fake.invalid).toEqual([]);
  });

  it('full reject by a /reject comment, closed as not planned', async () => {
    const { id, issue } = await request('billing-bot', 'Delete the staging bucket');
    const poll = server.fetch(`/v1/approvals/${id}?wait=20`, { key: agentKey });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await deliver(fake.comment(issue, '/reject too risky on a Friday, ask @carol <!--', 'bob'))).status).toBe(202);
    const answered = (await (await poll).json()) as ApprovalView;
    expect(answered).toMatchObject({ status: 'rejected', decision: { outcome: 'rejected', by: ['bob'], reason: 'too risky on a Friday, ask @carol <!--' } });
    expect(await callbackFor(id)).toMatchObject({ type: 'approval.decided', data: { id, status: 'rejected', decision: { by: ['bob'], reason: 'too risky on a Friday, ask @carol <!--' } } });
    await until(() => fake.issues.get(issue)!, (i) => i.state === 'closed');
    expect(fake.issues.get(issue)).toMatchObject({ state_reason: 'not_planned', labels: ['risk:medium', 'rejected'] });
    await until(() => commentsOf(issue), (c) => c.length === 2);
    expect(commentsOf(issue)[1]).toMatch(/^Rejected by @bob — agent notified\./);
    // The reviewer's reason is quoted as code: Countersign's comment neither mentions @carol nor opens an HTML comment.
    expect(commentsOf(issue)[1]).toContain('\n```text\ntoo risky on a Friday, ask @carol <!--\n```');
  });

  it('a bad or missing signature is a 401 and changes nothing', async () => {
    const { id, issue } = await request('billing-bot', 'Pay invoice 42');
    const mark = fake.calls.length;
    const delivery = fake.label(issue, 'approved', 'alice');
    expect((await deliver(delivery, 'sha256=' + '0'.repeat(64))).status).toBe(401);
    expect((await deliver(delivery, null)).status).toBe(401);
    const tampered = { ...delivery, body: delivery.body.replace('"alice"', '"bob"') };
    expect((await deliver(tampered, await fake.sign(delivery.body))).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await get(id)).status).toBe('pending');
    expect(await votes(id)).toEqual([]);
    const deliveries = await server.services.db.withTables<{ webhook_deliveries: { delivery_id: string } }>().selectFrom('webhook_deliveries').select('delivery_id').where('delivery_id', '=', delivery.id).execute();
    expect(deliveries).toEqual([]);
    expect(fake.callsSince(mark)).toEqual([]);
  });

  it('the same delivery twice makes one decision', async () => {
    const { id, issue } = await request('quorum-bot', 'Rotate the API key');
    const delivery = fake.comment(issue, '/approve', 'alice');
    const [first, second] = [await deliver(delivery), await deliver(delivery)];
    expect(first.status).toBe(202);
    expect(second.status).toBe(200);
    expect(await second.json()).toEqual({ duplicate: true });
    await until(() => votes(id), (v) => v.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await votes(id)).toHaveLength(1);
    expect((await get(id)).status).toBe('pending');
  });

  it('a label by a non-reviewer is removed with a comment, and the approval stays pending', async () => {
    const { id, issue } = await request('billing-bot', 'Refund order 7');
    expect((await deliver(fake.label(issue, 'approved', 'mallory'))).status).toBe(202);
    await until(() => fake.issues.get(issue)!, (i) => !i.labels.includes('approved') && i.comments.length === 1);
    expect(commentsOf(issue)[0]).toMatch(/^@mallory: not counted — mallory is not a reviewer of project billing-bot\. The label has been removed\./);
    expect((await get(id)).status).toBe('pending');
    expect(await votes(id)).toEqual([]);
    // Our own removal of the label comes back as a webhook by our account: ignored, no loop.
    const own = fake.label(issue, 'approved', fake.selfLogin);
    fake.issues.get(issue)!.labels = fake.issues.get(issue)!.labels.filter((l) => l !== 'approved');
    expect((await deliver(own)).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await get(id)).status).toBe('pending');
    expect(commentsOf(issue)).toHaveLength(1);
  });

  it('a quorum of 2 is reached by two distinct /approve comments', async () => {
    const { id, issue } = await request('quorum-bot', 'Deploy to production');
    await deliver(fake.comment(issue, '/approve looks good', 'alice'));
    await until(() => votes(id), (v) => v.length === 1);
    expect((await get(id)).status).toBe('pending');
    await deliver(fake.comment(issue, '/approve', 'bob'));
    const decided = await until(() => get(id), (v) => v.status !== 'pending');
    expect(decided).toMatchObject({ status: 'approved', decision: { by: ['alice', 'bob'] } });
    await until(() => fake.issues.get(issue)!, (i) => i.state === 'closed' && i.comments.length === 3);
    expect(commentsOf(issue)[2]).toMatch(/^Approved by @alice, @bob, 2 of 2 — agent notified\./);
  });

  it('a crash between "GitHub created the issue" and "we stored it" still leaves one issue', async () => {
    const before = fake.issues.size;
    crashAfterCreate.add('Renew the TLS certificate');
    const { issue } = await request('billing-bot', 'Renew the TLS certificate');
    expect(fake.issues.size).toBe(before + 1);
    expect(fake.issues.get(issue)!.title).toBe('Renew the TLS certificate');
    // One create; the retried job found the issue by its marker instead of opening a second.
    expect(fake.calls.filter((c) => c.operationId === 'issues/create' && (c.body as { title: string }).title === 'Renew the TLS certificate')).toHaveLength(1);
    expect(fake.calls.some((c) => c.operationId === 'issues/list-for-repo')).toBe(true);
  });

  it('a 403 secondary rate limit is waited out and retried', async () => {
    const before = fake.issues.size;
    const mark = fake.calls.length;
    fake.failNext('issues/create', { status: 403, headers: { 'retry-after': '1' }, body: { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.' } });
    await request('billing-bot', 'Send the newsletter');
    const creates = fake.callsSince(mark).filter((c) => c.operationId === 'issues/create');
    expect(creates.map((c) => c.status)).toEqual([403, 201]);
    expect(fake.issues.size).toBe(before + 1);
  });

  it('events for issues Countersign did not open are ignored with 202', async () => {
    const response = await deliver(fake.foreignLabel('alice', 'approved'));
    expect(response.status).toBe(202);
    expect(await response.json()).toMatchObject({ ignored: expect.stringContaining('not opened by Countersign') });
  });

  it('a pending issue closed by hand is reopened, or rejected when a reviewer closes it as not planned', async () => {
    const first = await request('billing-bot', 'Archive the old repo');
    await deliver(fake.close(first.issue, 'carol', 'completed'));
    await until(() => fake.issues.get(first.issue)!, (i) => i.state === 'open' && i.comments.length === 1);
    expect(commentsOf(first.issue)[0]).toMatch(/^@carol: not counted — closing the issue does not decide the approval\. The issue has been reopened\./);
    expect((await get(first.id)).status).toBe('pending');

    await deliver(fake.close(first.issue, 'bob', 'not_planned'));
    const decided = await until(() => get(first.id), (v) => v.status !== 'pending');
    expect(decided).toMatchObject({ status: 'rejected', decision: { by: ['bob'], reason: 'closed as not planned' } });
  });

  describe('reconciliation', () => {
    it('applies a decision whose webhook was missed, and only once', async () => {
      const { id, issue } = await request('billing-bot', 'Merge the hotfix');
      fake.label(issue, 'approved', 'alice'); // the delivery never arrives
      const quorum = await request('quorum-bot', 'Scale the cluster');
      fake.comment(quorum.issue, '/approve', 'carol');
      fake.comment(quorum.issue, '/approve', 'mallory');

      const summary = await runReconcileTickets(server.services);
      expect(summary.attempted).toBeGreaterThanOrEqual(3);
      expect(await get(id)).toMatchObject({ status: 'approved', decision: { by: ['alice'] } });
      expect((await votes(quorum.id)).map((v) => v.reviewer)).toEqual(['carol']);
      await until(() => commentsOf(quorum.issue), (c) => c.some((b) => b.startsWith('@mallory: not counted')));

      // A second run finds nothing new: no second refusal comment for mallory.
      await runReconcileTickets(server.services);
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(commentsOf(quorum.issue).filter((b) => b.startsWith('@mallory'))).toHaveLength(1);
      expect(fake.invalid).toEqual([]);
    });
  });
});
