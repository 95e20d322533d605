import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { receiveProviderWebhook } from '../../src/tickets/receive-provider-webhook.ts';
import { runReconcileTickets } from '../../src/tickets/reconcile-tickets.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type Delivery, type FakeGitHub } from '../helpers/fake-github.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';
import { replayHeaders, settledState, type CapturedDelivery } from '../helpers/replay.ts';

const SECRET = 'replay-webhook-secret';

/**
 * An attacker who captured a real signed GitHub delivery resends it: with a fresh
 * `X-GitHub-Delivery` (not signed, so free to change) and other unsigned headers changed.
 * For every event type, the resend must change nothing a user could notice.
 */
describeEachDatabase('GitHub: a captured delivery resent under a new delivery id decides nothing', (database) => {
  let fake: FakeGitHub;
  let server: TestServer;
  let agentKey: string;

  beforeAll(async () => {
    fake = await startFakeGitHub({ secret: SECRET });
    server = await startTestServer(database, { env: fake.serverEnv });
    const github = { owner: fake.owner, repo: fake.repo };
    await server.projects([
      {
        key: 'replay-quorum',
        provider: 'github',
        github,
        reviewers: ['alice', 'bob', 'carol'],
        requiredApprovals: 2,
        escalation: [
          { after: '1h', reviewers: ['dave'] },
          { after: '2h', reviewers: ['erin'] },
        ],
        rules: [{ when: { labels: ['urgent'] }, set: { requiredApprovals: 3 } }],
      },
    ]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await fake?.stop();
  });

  async function request(summary: string): Promise<{ id: string; issue: number }> {
    const intake = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'replay-quorum', action: 'deploy', summary, requestedBy: 'agent-7' } });
    expect(intake.status).toBe(202);
    const { id } = (await intake.json()) as { id: string };
    const view = await until(async () => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView, (v) => v.ticket !== null);
    return { id, issue: Number(view.ticket!.key.split('#')[1]) };
  }

  /** What a person sees on the issue. */
  const ticketOf = (issue: number) => {
    const seen = fake.issues.get(issue)!;
    return { state: seen.state, labels: [...seen.labels], assignees: [...seen.assignees], comments: seen.comments.map((c) => c.body) };
  };
  /** Takes back what a fake person did, so that only the captured delivery can tell Countersign about it (not reconciliation). */
  const unseen = (issue: number) => {
    const seen = fake.issues.get(issue)!;
    seen.labels = seen.labels.filter((l) => l !== 'approved');
    seen.comments = seen.comments.filter((c) => c.user === fake.selfLogin);
  };

  const snapshot = (approvalId: string) => settledState(server.services, approvalId, () => ticketOf(issueOf(approvalId)));

  const capture = (delivery: Delivery): CapturedDelivery => ({
    body: delivery.body,
    headers: { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id, 'x-github-hook-id': '4711', 'user-agent': 'GitHub-Hookshot/abc123' },
  });

  /** A delivery GitHub would send for another action of the same event, signed with the real secret. */
  async function signedVariant(delivery: Delivery, change: (payload: Record<string, unknown>) => void): Promise<CapturedDelivery> {
    const payload = JSON.parse(delivery.body) as Record<string, unknown>;
    change(payload);
    const body = JSON.stringify(payload);
    return { body, headers: { ...capture(delivery).headers, 'x-github-delivery': `${delivery.id}-variant` } };
  }

  /** The framework-free core of `POST /webhooks/github`, with the work after the answer awaited: no timing involved. */
  async function deliver(captured: CapturedDelivery): Promise<number> {
    const signature = await fake.sign(captured.body);
    const answer = await receiveProviderWebhook(server.services, 'github', captured.body, { ...captured.headers, 'x-hub-signature-256': signature });
    await answer.work?.();
    return answer.status;
  }

  /** Delivers once, lets what it queued reach the ticket, then resends it as an attacker would and expects nothing to change. */
  async function expectReplayChangesNothing(approvalId: string, captured: CapturedDelivery, first: (state: Awaited<ReturnType<typeof snapshot>>) => void): Promise<void> {
    await deliver(captured);
    const before = await snapshot(approvalId);
    first(before);
    for (const headers of replayHeaders(captured.headers, 'x-github-delivery')) {
      const status = await deliver({ ...captured, headers });
      expect(status).toBeLessThan(300);
    }
    await runReconcileTickets(server.services);
    expect(await snapshot(approvalId)).toEqual(before);
  }

  const issues = new Map<string, number>();
  const issueOf = (approvalId: string) => issues.get(approvalId)!;
  async function pending(summary: string) {
    const created = await request(summary);
    issues.set(created.id, created.issue);
    return created;
  }

  it('issues.labeled with the approved label (a counted vote): no second vote, no already-voted record', async () => {
    const { id, issue } = await pending('Deploy 1');
    await expectReplayChangesNothing(id, capture(fake.label(issue, 'approved', 'alice')), (state) => {
      expect(state.votes).toEqual([{ reviewer: 'alice', outcome: 'approve' }]);
      expect(state.approval.status).toBe('pending');
    });
  });

  it('issues.labeled with the rejected label (a decision): no second decision record', async () => {
    const { id, issue } = await pending('Deploy 2');
    await expectReplayChangesNothing(id, capture(fake.label(issue, 'rejected', 'bob')), (state) => {
      expect(state.approval.status).toBe('rejected');
      expect(state.audit.filter((event) => event === 'approval.decided')).toHaveLength(1);
    });
  });

  it('issues.labeled with escalate: an escalation already applied does nothing', async () => {
    const { id, issue } = await pending('Deploy 3');
    await expectReplayChangesNothing(id, capture(fake.label(issue, 'escalate', 'alice')), (state) => {
      expect(state.approval.escalation_tier).toBe(1);
      expect(state.audit.filter((event) => event === 'approval.escalated')).toHaveLength(1);
    });
  });

  it('issues.labeled with a rule label: the rules are re-resolved once', async () => {
    const { id, issue } = await pending('Deploy 4');
    await expectReplayChangesNothing(id, capture(fake.label(issue, 'urgent', 'carol')), (state) => {
      expect(state.approval.required_approvals).toBe(3);
      expect(state.audit.filter((event) => event === 'approval.relabeled')).toHaveLength(1);
    });
  });

  it('issues.labeled by a non-reviewer: refused once, one comment, the replay is not refused again', async () => {
    const { id, issue } = await pending('Deploy 5');
    await expectReplayChangesNothing(id, capture(fake.label(issue, 'approved', 'mallory')), (state) => {
      expect(state.audit).toEqual(['approval.requested', 'ticket.created', 'decision.refused']);
      expect(state.ticket.comments.filter((c) => c.startsWith('@mallory: not counted'))).toHaveLength(1);
    });
  });

  it('issues.closed as completed: reopened once, with one comment', async () => {
    const { id, issue } = await pending('Deploy 6');
    await expectReplayChangesNothing(id, capture(fake.close(issue, 'carol', 'completed')), (state) => {
      expect(state.ticket.state).toBe('open');
      expect(state.ticket.comments.filter((c) => c.includes('closing the issue does not decide'))).toHaveLength(1);
    });
  });

  it('issues.closed as not planned by a non-reviewer: refused once', async () => {
    const { id, issue } = await pending('Deploy 7');
    await expectReplayChangesNothing(id, capture(fake.close(issue, 'mallory', 'not_planned')), (state) => {
      expect(state.approval.status).toBe('pending');
      expect(state.audit.filter((event) => event === 'decision.refused')).toHaveLength(1);
    });
  });

  it('issue_comment.created with /approve: counted once', async () => {
    const { id, issue } = await pending('Deploy 8');
    await expectReplayChangesNothing(id, capture(fake.comment(issue, '/approve ship it', 'bob')), (state) => {
      expect(state.votes).toEqual([{ reviewer: 'bob', outcome: 'approve' }]);
    });
  });

  it('issue_comment.edited, issue_comment.deleted, issues.unlabeled and issues.reopened decide nothing, first time or replayed', async () => {
    const { id, issue } = await pending('Deploy 9');
    const comment = fake.comment(issue, '/approve', 'alice');
    const label = fake.label(issue, 'approved', 'bob');
    unseen(issue);
    const variants = [
      await signedVariant(comment, (p) => (p.action = 'edited')),
      await signedVariant(comment, (p) => (p.action = 'deleted')),
      await signedVariant(label, (p) => (p.action = 'unlabeled')),
      await signedVariant(label, (p) => {
        p.action = 'reopened';
        delete p.label;
      }),
    ];
    const before = await settledState(server.services, id, () => ticketOf(issue));
    for (const variant of variants) {
      for (const headers of [variant.headers, ...replayHeaders(variant.headers, 'x-github-delivery')]) expect(await deliver({ ...variant, headers })).toBeLessThan(300);
    }
    expect(await settledState(server.services, id, () => ticketOf(issue))).toEqual(before);
    expect(before.votes).toEqual([]);
  });

  it('a signed label body sent under another X-GitHub-Event is not read as that event', async () => {
    const { id, issue } = await pending('Deploy 10');
    const captured = capture(fake.label(issue, 'approved', 'alice'));
    unseen(issue);
    expect(await deliver({ ...captured, headers: { ...captured.headers, 'x-github-event': 'issue_comment' } })).toBe(202);
    expect(await sql`select 1 from decision_votes where approval_id = ${id}`.execute(server.services.db).then((r) => r.rows)).toEqual([]);
  });

  it('a vote seen by a webhook is not applied again by reconciliation, run after run', async () => {
    const { id, issue } = await pending('Deploy 11');
    await deliver(capture(fake.label(issue, 'approved', 'carol')));
    const before = await settledState(server.services, id, () => ticketOf(issue));
    await runReconcileTickets(server.services);
    await runReconcileTickets(server.services);
    expect(await settledState(server.services, id, () => ticketOf(issue))).toEqual(before);
    expect(before.audit).toEqual(['approval.requested', 'ticket.created', 'decision.counted']);
  });

  it('a vote missed by its webhook is applied once by reconciliation, and the late webhook then does nothing', async () => {
    const { id, issue } = await pending('Deploy 12');
    const late = capture(fake.label(issue, 'approved', 'alice'));
    await runReconcileTickets(server.services);
    const before = await settledState(server.services, id, () => ticketOf(issue));
    expect(before.votes).toEqual([{ reviewer: 'alice', outcome: 'approve' }]);
    await deliver(late);
    expect(await settledState(server.services, id, () => ticketOf(issue))).toEqual(before);
  });
});
