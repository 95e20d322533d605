import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveActivityTarget } from '../../../src/tickets/activity-target.ts';
import { applyTicketActivity } from '../../../src/tickets/apply-ticket-activity.ts';
import { createApproval } from '../../../src/intake/create-approval.ts';
import { ActivityAlreadyApplied, decideApproval, type DecisionAttempt, type DecisionDeps } from '../../../src/approvals/decide-approval.ts';
import { claimActivity } from '../../../src/tickets/ticket-activity-claims.ts';
import { runBatchClose } from '../../../src/batching/batches.ts';
import { decideBatch } from '../../../src/batching/decide-batch.ts';
import { createApiKey, findPrincipal, type Principal } from '../../../src/keys/api-keys.ts';
import { applyProjects, parseProjectMapping } from '../../../src/projects/project-store.ts';
import type { ProviderAdapter } from '../../../src/providers/provider-adapter.ts';
import type { RunningServices } from '../../../src/start-services.ts';
import { startAuditServices, type AuditTestServices } from '../../helpers/audit-fixtures.ts';
import { describeEachDatabase } from '../../helpers/databases.ts';

/**
 * A ticket system whose accounts are opaque ids compared exactly (as Jira's accountIds are),
 * so the identity rules of two adapters meet in one suite: `local` folds case, this does not.
 */
const exactTickets: ProviderAdapter = {
  name: 'jira',
  capabilities: { decidesInCountersign: false, updatesTickets: true, webhooks: false, reconciles: false, revertsCountedVotes: false },
  identities: { caseInsensitive: false },
  createTicket: async (request) => ({ provider: 'jira', key: `OPS-${request.approvalId.slice(-4)}`, url: 'http://127.0.0.1/browse/OPS-1' }),
  updateTicket: async () => undefined,
};


type AuditRow = { event: string; actor: { id: string; via: string }; data: Record<string, unknown> };

/**
 * The decision engine's rules, with no HTTP server: `decideApproval` gets exactly the
 * dependencies it declares (`DecisionDeps`) over a real, migrated database; the ticket and
 * batch paths get the services the webhook would pass them.
 */
describeEachDatabase('decision engine', (database) => {
  let fixture: AuditTestServices;
  let services: RunningServices;
  let deps: DecisionDeps;
  let agent: Principal;

  const projects = {
    solo: { key: 'solo', provider: 'local', reviewers: ['Alice', 'bob'] },
    quorum: { key: 'quorum', provider: 'local', reviewers: ['alice', 'bob', 'carol'], requiredApprovals: 2 },
    exact: { key: 'exact', provider: 'jira', reviewers: ['acc-alice', 'acc-bob'], jira: { project: 'OPS', approvedStatus: 'Done', rejectedStatus: 'Rejected' } },
    batched: { key: 'batched', provider: 'local', reviewers: ['alice', 'bob'], batching: { when: { risk: ['low'] }, window: '1h', maxItems: 10 } },
  } as const;

  const mapProjects = async (...bodies: Array<Record<string, unknown>>) => {
    await applyProjects(
      services,
      bodies.map((body) => parseProjectMapping(body.key as string, body, services.providers.available)),
    );
  };

  beforeAll(async () => {
    fixture = await startAuditServices(database, { extraProviders: [exactTickets] });
    services = fixture.services;
    // Only what the engine declares, picked by hand: a wider bag would not compile as DecisionDeps anyway.
    deps = { db: services.db, database: services.database, audit: services.audit, jobs: services.jobs, providers: services.providers, people: services.people, channels: services.channels, callbacks: services.callbacks, metrics: services.metrics, now: () => new Date() };
    await mapProjects(...Object.values(projects));
    agent = (await findPrincipal(services.db, (await createApiKey(services, { name: 'agent', scopes: ['intake'] })).key))!;
  });
  afterAll(() => fixture?.close());

  const request = async (project: string, fields: Record<string, unknown> = {}) => (await createApproval(services, agent, { project, action: 'send_email', summary: 'Send the invoice', ...fields })).approval.id;
  const attempt = (approvalId: string, reviewer: string, outcome: DecisionAttempt['outcome'] = 'approve', via = 'api') => decideApproval(deps, { approvalId, reviewer, outcome, reason: null, via });
  const approvalRow = (id: string) => services.db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const votes = (id: string) => services.db.selectFrom('decision_votes').select(['reviewer', 'outcome', 'via']).where('approval_id', '=', id).orderBy('created_at').execute();
  const audit = async (id: string): Promise<AuditRow[]> => {
    await services.audit.flush();
    const { rows } = await sql<AuditRow>`select event, actor, data from audit_records where approval_id = ${id} order by seq`.execute(services.db);
    return rows;
  };
  const queuedTicketUpdates = async (id: string) => {
    const { rows } = await sql<{ data: { update: string; reason?: string } }>`select data from pgboss.job where name = 'ticket-update' and data->>'approvalId' = ${id}`.execute(services.db);
    return rows.map((row) => row.data);
  };

  describe('who may decide', () => {
    it('refuses a person who is not a mapped reviewer, audits the attempt as refused and changes nothing else', async () => {
      const id = await request('solo');
      const result = await attempt(id, 'mallory');
      expect(result).toMatchObject({ result: 'refused', code: 'not_a_reviewer', reason: 'mallory is not a reviewer of project solo' });
      expect((await approvalRow(id)).status).toBe('pending');
      expect(await votes(id)).toEqual([]);
      expect((await audit(id)).at(-1)).toMatchObject({ event: 'decision.refused', actor: { id: 'mallory', via: 'api' }, data: { code: 'not_a_reviewer' } });
    });

    it('answers a reviewer with the mapping’s spelling, whatever case they type, where the adapter folds case', async () => {
      const id = await request('solo');
      const result = await attempt(id, 'ALICE');
      expect(result).toMatchObject({ result: 'decided', approval: { status: 'approved', decision: { by: ['Alice'] } } });
    });

    it('refuses the requester, in any spelling the adapter counts as them, and a fullwidth look-alike of a reviewer', async () => {
      for (const requestedBy of ['alice', 'ALICE', 'ａｌｉｃｅ', ' Alice ']) {
        const id = await request('solo', { requestedBy });
        expect(await attempt(id, 'alice'), requestedBy).toMatchObject({ result: 'refused', code: 'self_approval' });
        expect((await approvalRow(id)).status).toBe('pending');
      }
      const id = await request('solo');
      expect(await attempt(id, 'ａｌｉｃｅ')).toMatchObject({ result: 'refused', code: 'not_a_reviewer' });
    });

    it('compares exactly where the adapter does: another case is another account, neither the reviewer nor the requester', async () => {
      const id = await request('exact', { requestedBy: 'ACC-BOB' });
      expect(await attempt(id, 'ACC-ALICE')).toMatchObject({ result: 'refused', code: 'not_a_reviewer' });
      // acc-bob is not the requester ACC-BOB on a provider whose ids are case-sensitive.
      expect(await attempt(id, 'acc-bob')).toMatchObject({ result: 'decided', approval: { status: 'approved', decision: { by: ['acc-bob'] } } });
    });

    it('tells a ticket kept apart of a refusal, and queues nothing where the approval is its own ticket', async () => {
      const elsewhere = await request('exact');
      await attempt(elsewhere, 'acc-mallory');
      expect(await queuedTicketUpdates(elsewhere)).toEqual([expect.objectContaining({ update: 'refused', reason: 'acc-mallory is not a reviewer of project exact' })]);
      const local = await request('solo');
      await attempt(local, 'mallory');
      expect(await queuedTicketUpdates(local)).toEqual([]);
    });
  });

  describe('how votes count', () => {
    it('M of N: the first approval is counted, the second distinct reviewer decides, first vote first', async () => {
      const id = await request('quorum');
      expect(await attempt(id, 'bob')).toMatchObject({ result: 'counted', approvals: 1, required: 2 });
      expect((await approvalRow(id)).status).toBe('pending');
      expect(await attempt(id, 'alice')).toMatchObject({ result: 'decided', approval: { status: 'approved', decision: { by: ['bob', 'alice'] } } });
      expect((await audit(id)).map((row) => row.event)).toEqual(['approval.requested', 'decision.counted', 'approval.decided']);
    });

    it('one vote per person, whichever channel and spelling the second one comes through', async () => {
      const id = await request('quorum');
      await attempt(id, 'alice', 'approve', 'api');
      expect(await attempt(id, 'Alice', 'approve', 'cli')).toMatchObject({ result: 'refused', code: 'already_voted' });
      expect(await attempt(id, 'alice', 'reject', 'cli')).toMatchObject({ result: 'refused', code: 'already_voted' });
      expect(await votes(id)).toEqual([{ reviewer: 'alice', outcome: 'approve', via: 'api' }]);
      expect((await approvalRow(id)).status).toBe('pending');
    });

    it('still one vote when the mapping respelled the reviewer since their first vote', async () => {
      const id = await request('quorum');
      await attempt(id, 'alice');
      await mapProjects({ ...projects.quorum, reviewers: ['ALICE', 'bob', 'carol'] });
      try {
        expect(await attempt(id, 'alice', 'approve', 'cli')).toMatchObject({ result: 'refused', code: 'already_voted' });
        expect(await votes(id)).toHaveLength(1);
      } finally {
        await mapProjects(projects.quorum);
      }
    });

    it('a reject decides at once, even when approvals were counted toward the quorum', async () => {
      const id = await request('quorum');
      await attempt(id, 'alice');
      expect(await attempt(id, 'bob', 'reject')).toMatchObject({ result: 'decided', approval: { status: 'rejected', decision: { by: ['bob'] } } });
      expect(await attempt(id, 'carol')).toMatchObject({ result: 'late', approval: { status: 'rejected' } });
      expect((await audit(id)).at(-1)).toMatchObject({ event: 'decision.late', actor: { id: 'carol' } });
    });

    it('an earlier vote stops counting once its reviewer is removed from the mapping, and the record says why', async () => {
      const id = await request('quorum');
      await attempt(id, 'alice');
      await mapProjects({ ...projects.quorum, reviewers: ['bob', 'carol'] });
      try {
        const bob = await attempt(id, 'bob');
        expect(bob).toMatchObject({ result: 'counted', approvals: 1, required: 2, notCounted: [{ reviewer: 'alice', reason: expect.stringContaining('alice is no longer a reviewer of project quorum') }] });
        expect(await attempt(id, 'carol')).toMatchObject({ result: 'decided', approval: { decision: { by: ['bob', 'carol'] } } });
      } finally {
        await mapProjects(projects.quorum);
      }
    });
  });

  describe('a vote from a ticket activity', () => {
    const claimRows = async (activityId: string) =>
      Number((await sql<{ n: string }>`select count(*) as n from ticket_activities where activity_id = ${activityId}`.execute(services.db)).rows[0]!.n);

    it('is claimed in the decision transaction: a decision that dies midway leaves the activity free, and its next sighting counts once', async () => {
      const id = await request('solo');
      const vote: DecisionAttempt = { approvalId: id, reviewer: 'bob', outcome: 'approve', reason: null, via: 'jira' };
      const claim = (trx: Parameters<typeof claimActivity>[0]) => claimActivity(trx, 'local', `activity-${id}`, id);
      // The audit record is written last (or with the decision's own update): failing there is dying after the claim and the vote.
      const died = () => Promise.reject(new Error('the process died here'));
      const dying: DecisionDeps = { ...deps, audit: { append: died, appendWith: died } };
      await expect(decideApproval(dying, vote, { claim })).rejects.toThrow('the process died here');
      // Nothing released the claim: it went with the transaction, so reconciliation will see the activity as new.
      expect(await claimRows(`activity-${id}`)).toBe(0);
      expect(await votes(id)).toEqual([]);

      expect((await decideApproval(deps, vote, { claim })).result).toBe('decided');
      expect(await claimRows(`activity-${id}`)).toBe(1);
      const audited = (await audit(id)).length;
      // Seen again (a redelivery, reconciliation): nothing is written, not even a refusal.
      await expect(decideApproval(deps, vote, { claim })).rejects.toBeInstanceOf(ActivityAlreadyApplied);
      expect((await audit(id)).length).toBe(audited);
    });
  });

  describe('batches', () => {
    const openBatch = async (count: number) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i += 1) ids.push(await request('batched', { summary: `Invoice ${i}`, risk: 'low' }));
      const { batch_id: batchId } = await approvalRow(ids[0]!);
      await runBatchClose(services, { batchId: batchId! });
      const target = await resolveActivityTarget(services.db, batchId!);
      if (target?.kind !== 'batch') throw new Error(`no batch target for ${batchId}`);
      return { ids, batchId: batchId!, target };
    };
    const onTicket = (target: Awaited<ReturnType<typeof openBatch>>['target'], fields: { kind: 'approve' | 'reject'; actor: string; reason: string | null; id: string }) =>
      applyTicketActivity(services, 'local', { approvalId: target.id, ticketKey: target.batch.ticket!.key, ...fields }, target);

    it('`/reject apr_…` rejects that one item; approving the batch then decides only the rest', async () => {
      const { ids, target } = await openBatch(3);
      const excluded = ids[1]!;
      const rejected = await onTicket(target, { kind: 'reject', actor: 'bob', reason: `${excluded.toUpperCase()} — wrong amount`, id: 'comment:1' });
      expect(rejected).toMatchObject({ result: 'attempted', decision: { result: 'decided', approval: { id: excluded, status: 'rejected', decision: { reason: 'wrong amount' } } } });
      expect((await approvalRow(ids[0]!)).status).toBe('pending');
      // Seen again (a redelivery, reconciliation reading it back): applied once.
      expect(await onTicket(await resolveActivityTargetOrThrow(target.id), { kind: 'reject', actor: 'bob', reason: `${excluded} — wrong amount`, id: 'comment:1' })).toEqual({ result: 'duplicate' });

      const approved = await onTicket(await resolveActivityTargetOrThrow(target.id), { kind: 'approve', actor: 'alice', reason: null, id: 'comment:2' });
      expect(approved).toMatchObject({ result: 'batch' });
      expect(await Promise.all(ids.map(async (id) => (await approvalRow(id)).status))).toEqual(['approved', 'rejected', 'approved']);
    });

    it('a `/reject` naming a request outside the batch changes nothing; the batch can still be approved', async () => {
      const { ids, target } = await openBatch(2);
      const stranger = await request('solo');
      expect(await onTicket(target, { kind: 'reject', actor: 'bob', reason: `${stranger} typo`, id: 'comment:3' })).toMatchObject({ result: 'ignored', reason: `${stranger} is not in batch ${target.id}` });
      expect(await Promise.all(ids.map(async (id) => (await approvalRow(id)).status))).toEqual(['pending', 'pending']);
      await onTicket(target, { kind: 'approve', actor: 'alice', reason: null, id: 'comment:4' });
      expect(await Promise.all(ids.map(async (id) => (await approvalRow(id)).status))).toEqual(['approved', 'approved']);
    });

    it('excluding items while approving rejects each with its own reason; a refused reviewer changes no item', async () => {
      const { ids, batchId } = await openBatch(2);
      const refused = await decideBatch(deps, { batchId, reviewer: 'mallory', outcome: 'approve', via: 'api' });
      expect(refused.items.map((item) => item.result)).toEqual(['refused', 'refused']);
      expect(await Promise.all(ids.map(async (id) => (await approvalRow(id)).status))).toEqual(['pending', 'pending']);

      const decided = await decideBatch(deps, { batchId, reviewer: 'alice', outcome: 'approve', via: 'api', exclude: [{ approvalId: ids[0]!, reason: 'not this one' }] });
      expect(decided.items).toEqual([
        { approvalId: ids[0], result: 'decided', status: 'rejected' },
        { approvalId: ids[1], result: 'decided', status: 'approved' },
      ]);
      expect((await approvalRow(ids[0]!)).decision).toMatchObject({ outcome: 'rejected', by: ['alice'], reason: 'not this one' });
    });
  });

  async function resolveActivityTargetOrThrow(id: string) {
    const target = await resolveActivityTarget(services.db, id);
    if (target?.kind !== 'batch') throw new Error(`no batch target for ${id}`);
    return target;
  }
});
