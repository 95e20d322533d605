import { afterAll, beforeAll, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { runReconcileTickets } from '../../src/tickets/reconcile-tickets.ts';
import { createLogger } from '../../src/config/logger.ts';
import { createGitHubAdapter } from '../../src/providers/github/github-adapter.ts';
import { createGitHubClient } from '../../src/providers/github/github-client.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.ts';
import { startFakeGitHub, type Delivery, type FakeGitHub } from '../helpers/fake-github.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';

const SECRET = 'test-webhook-secret';

interface CallbackData {
  id: string;
  status: string;
  decision: { by: string[]; reason: string | null };
}

/**
 * Issue 7 on GitHub: escalation tiers and the `escalate` label on an issue, labels a reviewer
 * adds switching the rules, and batches as one issue with a task list.
 */
describeEachDatabase('label rules on GitHub', (database) => {
  let fake: FakeGitHub;
  let server: TestServer;
  let receiver: CallbackReceiver;
  let agent: { key: string; webhookSecret: string };

  beforeAll(async () => {
    fake = await startFakeGitHub({ secret: SECRET });
    receiver = await startCallbackReceiver();
    const logger = createLogger('silent');
    const client = createGitHubClient({ apiUrl: fake.url, webhookSecret: SECRET, token: 'ghp_test' }, { logger, writeIntervalMs: 0 });
    server = await startTestServer(database, {
      env: fake.serverEnv,
      extraProviders: [createGitHubAdapter(client, { webhookSecret: SECRET, auth: 'token', logger })],
    });
    const github = { owner: fake.owner, repo: fake.repo };
    await server.projects([
      { key: 'sla', provider: 'github', github, reviewers: ['alice'], escalation: [{ after: '1s', reviewers: ['carol'] }, { after: '1h', outcome: 'reject' }] },
      { key: 'manual', provider: 'github', github, reviewers: ['alice', 'bob'], escalation: [{ after: '1h', reviewers: ['carol'] }, { after: '2h', reviewers: ['dave'] }] },
      {
        key: 'steered',
        provider: 'github',
        github,
        reviewers: ['alice', 'bob', 'carol'],
        rules: [{ when: { labels: ['urgent'] }, set: { requiredApprovals: 2, escalation: [{ after: '2s', reviewers: ['dave'] }] } }],
      },
      { key: 'bulk', provider: 'github', github, reviewers: ['alice', 'bob'], batching: { when: { risk: ['low'] }, window: '5m', maxItems: 25 } },
      { key: 'trio', provider: 'github', github, reviewers: ['alice', 'bob'], batching: { when: { risk: ['low'] }, window: '1s', maxItems: 25 } },
    ]);
    const created = await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    agent = { key: created.key, webhookSecret: created.webhookSecret };
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
    await fake?.stop();
  });

  const get = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agent.key })).json()) as ApprovalView;
  const issueOf = (view: ApprovalView) => Number(view.ticket!.key.split('#')[1]);
  const issue = (n: number) => fake.issues.get(n)!;
  /** What Countersign wrote on the issue (people's comments left out). */
  const commentsOf = (n: number) => issue(n).comments.filter((c) => c.user === fake.selfLogin).map((c) => c.body);

  async function intake(project: string, summary: string, extra: Record<string, unknown> = {}): Promise<ApprovalView> {
    const response = await server.fetch('/v1/approvals', {
      key: agent.key,
      json: { project, action: 'send_email', summary, payload: { summary }, risk: 'medium', callbackUrl: receiver.url, ...extra },
    });
    expect(response.status).toBe(202);
    return (await response.json()) as ApprovalView;
  }
  async function request(project: string, summary: string): Promise<{ id: string; issue: number }> {
    const { id } = await intake(project, summary);
    return { id, issue: issueOf(await until(() => get(id), (v) => v.ticket !== null)) };
  }
  async function deliver(delivery: Delivery): Promise<void> {
    const response = await fetch(`${server.url}/webhooks/github`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id, 'x-hub-signature-256': await fake.sign(delivery.body) },
      body: delivery.body,
    });
    expect(response.status).toBe(202);
  }
  /** The verified callbacks the agent got for these approvals, once all have arrived. */
  async function callbacksFor(ids: string[]): Promise<CallbackData[]> {
    const wanted = new Set(ids);
    const read = () =>
      receiver.received
        .map((c) => new Webhook(agent.webhookSecret).verify(c.body, c.headers) as { data: CallbackData })
        .map((event) => event.data)
        .filter((data) => wanted.has(data.id));
    return until(read, (found) => new Set(found.map((c) => c.id)).size === wanted.size, 15_000);
  }
  const auditEvents = async (approvalId: string) =>
    (await server.services.audit.flush(), await server.services.db.selectFrom('audit_records').select(['event', 'actor', 'data']).where('approval_id', '=', approvalId).orderBy('seq').execute()) as Array<{
      event: string;
      actor: { kind: string; id: string; via: string };
      data: Record<string, unknown>;
    }>;

  it('an escalation tier firing adds the assignee, the label escalated:1 and a comment mentioning them', async () => {
    const { id, issue: n } = await request('sla', 'Rotate the signing key');
    expect(issue(n).assignees).toEqual(['alice']);
    await until(() => issue(n), (i) => i.labels.includes('escalated:1') && i.comments.length === 1);
    expect(issue(n).assignees).toEqual(['alice', 'carol']);
    expect(commentsOf(n)[0]).toMatch(/^Escalated \(tier 1\).*@carol, please review\./);
    expect((await get(id)).escalationTier).toBe(1);
    expect((await auditEvents(id)).find((e) => e.event === 'approval.escalated')?.actor).toMatchObject({ kind: 'policy' });
    // The tier's reviewer may now decide on the issue, and the agent is called back.
    await deliver(fake.comment(n, '/approve', 'carol'));
    const [callback] = await callbacksFor([id]);
    expect(callback).toMatchObject({ status: 'approved', decision: { by: ['carol'] } });
    expect(fake.invalid).toEqual([]);
  });

  it('the escalate label escalates now when a reviewer adds it, and is removed with a comment when anyone else does', async () => {
    const { id, issue: n } = await request('manual', 'Grant repo access');
    await deliver(fake.label(n, 'escalate', 'mallory'));
    await until(() => issue(n), (i) => !i.labels.includes('escalate') && i.comments.length === 1);
    expect(commentsOf(n)[0]).toMatch(/^@mallory: not counted — mallory is not a reviewer of project manual; only reviewers may escalate\. The label has been removed\./);
    expect((await get(id)).escalationTier).toBe(0);

    await deliver(fake.label(n, 'escalate', 'bob'));
    await until(() => issue(n), (i) => i.labels.includes('escalated:1') && i.comments.length === 2);
    expect(issue(n).assignees).toEqual(['alice', 'bob', 'carol']);
    expect(commentsOf(n)[1]).toBe('Escalated (tier 1): @bob asked to escalate. @carol, please review.');
    expect((await get(id)).escalationTier).toBe(1);
    const escalated = (await auditEvents(id)).find((e) => e.event === 'approval.escalated');
    expect(escalated?.actor).toEqual({ kind: 'reviewer', id: 'bob', via: 'github' });
    expect(fake.invalid).toEqual([]);
  });

  it('a label a reviewer adds switches the rules: urgent needs two approvals and escalates sooner', async () => {
    const { id, issue: n } = await request('steered', 'Deploy on a Friday');
    // A non-reviewer's label steers nothing.
    await deliver(fake.label(n, 'urgent', 'mallory'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await server.services.db.selectFrom('approvals').select('required_approvals').where('id', '=', id).executeTakeFirstOrThrow()).required_approvals).toBe(1);

    await deliver(fake.label(n, 'urgent', 'carol'));
    const row = await until(
      () => server.services.db.selectFrom('approvals').select(['required_approvals', 'labels']).where('id', '=', id).executeTakeFirstOrThrow(),
      (r) => r.required_approvals === 2,
    );
    expect(row.labels).toEqual(['urgent']);
    const relabeled = (await auditEvents(id)).find((e) => e.event === 'approval.relabeled');
    expect(relabeled).toMatchObject({ actor: { kind: 'reviewer', id: 'carol', via: 'github' }, data: { label: 'urgent', matchedRules: [0], requiredApprovals: { from: 1, to: 2 }, rescheduled: true } });

    await deliver(fake.comment(n, '/approve', 'alice'));
    await until(() => server.services.db.selectFrom('decision_votes').select('reviewer').where('approval_id', '=', id).execute(), (v) => v.length === 1);
    expect((await get(id)).status).toBe('pending');
    // The rule's tier (2 s from the request) was scheduled by the relabel.
    await until(() => issue(n), (i) => i.labels.includes('escalated:1'));
    expect(issue(n).assignees).toContain('dave');

    await deliver(fake.comment(n, '/approve', 'bob'));
    const [callback] = await callbacksFor([id]);
    expect(callback).toMatchObject({ status: 'approved', decision: { by: ['alice', 'bob'] } });
    expect(fake.invalid).toEqual([]);
  });

  it('a batch of 25 is one issue with a 25-item task list; approving it with one item unticked gives 24 approved and 1 rejected callbacks', async () => {
    const mark = fake.calls.length;
    const items = await Promise.all(Array.from({ length: 25 }, (_, i) => intake('bulk', `Tag ticket ${i}`, { risk: 'low', action: 'tag_ticket' })));
    const batchId = items[0]!.batchId!;
    expect(batchId).toMatch(/^bat_/);
    expect(new Set(items.map((i) => i.batchId))).toEqual(new Set([batchId]));
    const n = issueOf(await until(() => get(items[0]!.id), (v) => v.ticket !== null));

    const body = issue(n).body;
    const tasks = body.split('\n').filter((line) => line.startsWith('- [x] '));
    expect(tasks).toHaveLength(25);
    for (const item of items) expect(body).toMatch(new RegExp(`^- \\[x\\] \`${item.id}\` · \`sha256:[0-9a-f]{64}\` — \`Tag ticket \\d+\` · action \`tag_ticket\`$`, 'm'));
    expect(body).toContain(`<!-- countersign:${batchId} -->`);
    expect(fake.issues.size).toBeGreaterThan(0);
    expect(fake.callsSince(mark).filter((c) => c.operationId === 'issues/create')).toHaveLength(1);

    const left = items[7]!.id;
    issue(n).body = body.replace(`- [x] \`${left}\``, `- [ ] \`${left}\``);
    await deliver(fake.label(n, 'approved', 'alice'));

    const callbacks = await callbacksFor(items.map((i) => i.id));
    expect(callbacks.filter((c) => c.status === 'approved')).toHaveLength(24);
    const rejected = callbacks.filter((c) => c.status === 'rejected');
    expect(rejected.map((c) => c.id)).toEqual([left]);
    expect(rejected[0]!.decision.reason).toBe('left out of the batch approval by alice (unticked on the ticket)');
    expect(callbacks.find((c) => c.status === 'approved')!.decision.by).toEqual(['alice']);

    // One close and one comment for the whole batch.
    await until(() => issue(n), (i) => i.state === 'closed' && commentsOf(i.number).length === 1);
    expect(commentsOf(n)[0]).toMatch(/^Approved by @alice.*24 approved, 1 rejected/s);
    // Writes only: reconciliation may read the pending issue's events meanwhile (issues/list-events).
    const lifecycle = fake.callsSince(mark, { writes: true }).filter((c) => c.operationId === 'issues/create' || c.path.includes(`/issues/${n}`));
    expect(lifecycle.map((c) => c.operationId)).toEqual(['issues/create', 'issues/update', 'issues/create-comment']);
    expect(fake.invalid).toEqual([]);
  });

  it('/reject apr_… on a batch issue rejects that one item; the batch approval covers the rest; a wrong id changes nothing', async () => {
    const items = await Promise.all(['one', 'two', 'three'].map((s) => intake('trio', `Label ${s}`, { risk: 'low' })));
    const batchId = items[0]!.batchId!;
    const n = issueOf(await until(() => get(items[0]!.id), (v) => v.ticket !== null));
    const [a, b, c] = items.map((i) => i.id) as [string, string, string];

    await deliver(fake.comment(n, '/reject apr_01nosuchitem0000000000000 typo', 'bob'));
    await until(() => commentsOf(n), (list) => list.length === 1);
    expect(commentsOf(n)[0]).toMatch(/^@bob: not counted — apr_01nosuchitem0000000000000 is not a request of this batch\./);

    await deliver(fake.comment(n, `/reject ${b} wrong customer`, 'bob'));
    await until(() => get(b), (v) => v.status === 'rejected');
    expect((await get(a)).status).toBe('pending');
    await deliver(fake.comment(n, '/approve', 'alice'));
    const callbacks = await callbacksFor([a, b, c]);
    expect(Object.fromEntries(callbacks.map((cb) => [cb.id, cb.status]))).toEqual({ [a]: 'approved', [b]: 'rejected', [c]: 'approved' });
    expect(callbacks.find((cb) => cb.id === b)!.decision).toMatchObject({ by: ['bob'], reason: 'wrong customer' });
    await until(() => issue(n), (i) => i.state === 'closed' && commentsOf(i.number).length === 2);
    const batch = await server.services.db.selectFrom('batches').select('status').where('id', '=', batchId).executeTakeFirstOrThrow();
    expect(batch.status).toBe('decided');
  });

  it('rejecting a batch issue rejects every item; a missed webhook on a batch is caught by reconciliation', async () => {
    const items = await Promise.all(['x', 'y'].map((s) => intake('trio', `Close ${s}`, { risk: 'low' })));
    const n = issueOf(await until(() => get(items[0]!.id), (v) => v.ticket !== null));
    fake.comment(n, '/reject not this week', 'alice'); // the delivery never arrives
    await runReconcileTickets(server.services);
    const callbacks = await callbacksFor(items.map((i) => i.id));
    expect(callbacks.map((cb) => cb.status)).toEqual(['rejected', 'rejected']);
    expect(callbacks[0]!.decision.reason).toBe('not this week');
    await until(() => issue(n), (i) => i.state === 'closed' && i.state_reason === 'not_planned');
  });
});
