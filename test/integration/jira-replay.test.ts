import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { receiveProviderWebhook } from '../../src/tickets/receive-provider-webhook.ts';
import { runReconcileTickets } from '../../src/tickets/reconcile-tickets.ts';
import { plainText } from '../../src/providers/jira/jira-issue-description.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeJira, type Delivery, type FakeJira } from '../helpers/fake-jira.ts';
import { replayHeaders, settledState, type CapturedDelivery } from '../helpers/replay.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'jira-replay-secret';
const ALICE = 'acc-alice';
const BOB = 'acc-bob';
const MALLORY = 'acc-mallory';

/**
 * `X-Atlassian-Webhook-Identifier` is not signed either: a captured Jira delivery resent with a
 * fresh identifier (and a retry header, another user agent) must change nothing, for every
 * event type; so must reconciliation reading the same change back.
 */
describeEachDatabase('Jira: a captured delivery resent under a new identifier decides nothing', (database) => {
  let jira: FakeJira;
  let server: TestServer;
  let agentKey: string;

  beforeAll(async () => {
    jira = await startFakeJira({ secret: SECRET });
    server = await startTestServer(database, { env: jira.serverEnv });
    const jiraMapping = { project: 'OPS', issueType: 'Task', approvedStatus: 'approved', rejectedStatus: 'Rejected' };
    await server.projects([{ key: 'ops-replay', provider: 'jira', jira: jiraMapping, reviewers: [ALICE, BOB, 'acc-carol'], requiredApprovals: 2 }]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await jira?.stop();
  });

  async function request(summary: string): Promise<{ id: string; key: string }> {
    const intake = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'ops-replay', action: 'deploy', summary, requestedBy: 'agent-7' } });
    expect(intake.status).toBe(202);
    const { id } = (await intake.json()) as { id: string };
    const view = await until(async () => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView, (v) => v.ticket !== null);
    return { id, key: view.ticket!.key };
  }

  const ticketOf = (key: string) => {
    const issue = jira.issues.get(key)!;
    return { status: issue.status.id, labels: [...issue.labels], comments: issue.comments.map((c) => plainText(c.body)) };
  };
  const snapshot = (approvalId: string, key: string) => settledState(server.services, approvalId, () => ticketOf(key));
  const capture = (delivery: Delivery): CapturedDelivery => {
    const { 'x-hub-signature': _, ...headers } = jira.headers(delivery);
    return { body: delivery.body, headers };
  };
  /** A delivery of another shape, signed with the real secret as Jira would sign it. */
  const signed = (payload: Record<string, unknown>): CapturedDelivery => capture({ id: crypto.randomUUID(), body: JSON.stringify(payload) });

  async function deliver(captured: CapturedDelivery): Promise<number> {
    const answer = await receiveProviderWebhook(server.services, 'jira', captured.body, { ...captured.headers, 'x-hub-signature': jira.sign(captured.body) });
    await answer.work?.();
    return answer.status;
  }

  async function expectReplayChangesNothing(approvalId: string, key: string, captured: CapturedDelivery, first: (state: Awaited<ReturnType<typeof snapshot>>) => void) {
    await deliver(captured);
    const before = await snapshot(approvalId, key);
    first(before);
    for (const headers of replayHeaders(captured.headers, 'x-atlassian-webhook-identifier')) expect(await deliver({ ...captured, headers })).toBeLessThan(300);
    await runReconcileTickets(server.services);
    expect(await snapshot(approvalId, key)).toEqual(before);
  }

  it('jira:issue_updated moving to Approved (a counted vote, moved back): no second vote, no second move back', async () => {
    const { id, key } = await request('Deploy J1');
    await expectReplayChangesNothing(id, key, capture(jira.transition(key, 'Approved', ALICE)), (state) => {
      expect(state.votes).toEqual([{ reviewer: ALICE, outcome: 'approve' }]);
      expect(state.approval.status).toBe('pending');
      expect(state.ticket.status).toBe(jira.statuses.todo.id);
    });
  });

  it('jira:issue_updated without a changelog id is still told apart from its replay by its signed content', async () => {
    const { id, key } = await request('Deploy J2');
    const payload = JSON.parse(jira.transition(key, 'Approved', BOB).body) as { changelog: { id?: string } };
    delete payload.changelog.id;
    await expectReplayChangesNothing(id, key, signed(payload), (state) => {
      expect(state.votes).toEqual([{ reviewer: BOB, outcome: 'approve' }]);
      expect(state.audit.filter((event) => event === 'decision.counted')).toHaveLength(1);
    });
  });

  it('jira:issue_updated moving to Rejected (a decision): one decision record', async () => {
    const { id, key } = await request('Deploy J3');
    await expectReplayChangesNothing(id, key, capture(jira.transition(key, 'Rejected', BOB)), (state) => {
      expect(state.approval.status).toBe('rejected');
      expect(state.audit.filter((event) => event === 'approval.decided')).toHaveLength(1);
    });
  });

  it('jira:issue_updated by a non-reviewer: refused once, one comment', async () => {
    const { id, key } = await request('Deploy J4');
    await expectReplayChangesNothing(id, key, capture(jira.transition(key, 'Approved', MALLORY)), (state) => {
      expect(state.audit.filter((event) => event === 'decision.refused')).toHaveLength(1);
      expect(state.ticket.comments.filter((c) => c.includes('is not a reviewer of project ops-replay'))).toHaveLength(1);
    });
  });

  it('comment_created with /approve: counted once', async () => {
    const { id, key } = await request('Deploy J5');
    await expectReplayChangesNothing(id, key, capture(jira.comment(key, '/approve', ALICE)), (state) => {
      expect(state.votes).toEqual([{ reviewer: ALICE, outcome: 'approve' }]);
    });
  });

  it('comment_updated, comment_deleted, jira:issue_updated of other fields and jira:issue_deleted decide nothing, first time or replayed', async () => {
    const { id, key } = await request('Deploy J6');
    const comment = JSON.parse(jira.comment(key, '/approve', ALICE).body) as Record<string, unknown>;
    jira.issues.get(key)!.comments = jira.issues.get(key)!.comments.filter((c) => c.author === jira.selfId);
    const moved = JSON.parse(jira.transition(key, 'In Progress', BOB).body) as Record<string, unknown> & { changelog: { items: Array<Record<string, unknown>> } };
    const variants = [
      signed({ ...comment, webhookEvent: 'comment_updated' }),
      signed({ ...comment, webhookEvent: 'comment_deleted' }),
      signed({ ...moved, changelog: { id: '999001', items: [{ field: 'summary', fieldtype: 'jira', fieldId: 'summary', from: null, fromString: 'a', to: null, toString: 'b' }] } }),
      signed({ ...moved, webhookEvent: 'jira:issue_deleted' }),
    ];
    const before = await snapshot(id, key);
    for (const variant of variants) {
      for (const headers of [variant.headers, ...replayHeaders(variant.headers, 'x-atlassian-webhook-identifier')]) expect(await deliver({ ...variant, headers })).toBeLessThan(300);
    }
    expect(await snapshot(id, key)).toEqual(before);
    expect(before.votes).toEqual([]);
  });
});
