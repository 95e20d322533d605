import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApproval } from '../../src/intake/create-approval.ts';
import { runBatchClose } from '../../src/batching/batches.ts';
import { createApiKey, findPrincipal, type Principal } from '../../src/keys/api-keys.ts';
import { applyProjects, parseProjectMapping } from '../../src/projects/project-store.ts';
import type { RunningServices } from '../../src/start-services.ts';
import { resolveActivityTarget } from '../../src/tickets/activity-target.ts';
import { applyTicketActivity } from '../../src/tickets/apply-ticket-activity.ts';
import type { TicketActivity } from '../../src/providers/provider-adapter.ts';
import { startAuditServices, type AuditTestServices } from '../helpers/audit-fixtures.ts';
import { describeEachDatabase } from '../helpers/databases.ts';

/**
 * Issue 19: a batch ticket's activity was claimed before `decideBatch` ran, so a process that died
 * between the two left it taken with the batch undecided, and its redelivery was dropped as a
 * duplicate. Each claim now commits with what it applies. The crash is an error thrown from inside
 * the Nth audit append (inside a decision's transaction): nothing on the path cleans up after it,
 * so the database is left as a kill at that point leaves it.
 */
describeEachDatabase('a ticket activity interrupted part-way', (database) => {
  let fixture: AuditTestServices;
  let services: RunningServices;
  let agent: Principal;

  beforeAll(async () => {
    fixture = await startAuditServices(database);
    services = fixture.services;
    const projects = [
      { key: 'batched', provider: 'local', reviewers: ['alice', 'bob'], batching: { when: { risk: ['low'] }, window: '1h', maxItems: 10 } },
      { key: 'solo', provider: 'local', reviewers: ['alice', 'bob'] },
      { key: 'editable', provider: 'local', reviewers: ['alice'], allowEdits: true },
      { key: 'tiered', provider: 'local', reviewers: ['alice'], escalation: [{ after: '24h', reviewers: ['bob'] }] },
      { key: 'ruled', provider: 'local', reviewers: ['alice', 'bob'], rules: [{ when: { labels: ['two-person'] }, set: { requiredApprovals: 2 } }] },
    ];
    await applyProjects(
      services,
      projects.map((body) => parseProjectMapping(body.key, body, services.providers.available)),
    );
    agent = (await findPrincipal(services.db, (await createApiKey(services, { name: 'agent', scopes: ['intake'] })).key))!;
  });
  afterAll(() => fixture?.close());

  /**
   * The services with an audit log (or job queue) that throws at its `n`th write, as a
   * process killed there would stop: from then on the database is out of reach too, so no catch
   * block can tidy up.
   */
  const crashingAt = (n: number, at: 'audit' | 'jobs' = 'audit'): RunningServices => {
    let calls = 0;
    let killed = false;
    const db = new Proxy(services.db, {
      get(target, property) {
        if (killed) throw new Error('killed');
        const value: unknown = Reflect.get(target, property);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const killing = <T extends object>(real: T, methods: readonly string[]): T =>
      new Proxy(real, {
        get(target, property) {
          const value: unknown = Reflect.get(target, property);
          if (typeof value !== 'function') return value;
          if (typeof property !== 'string' || !methods.includes(property)) return value.bind(target);
          return async (...args: unknown[]) => {
            calls += 1;
            if (calls === n) {
              killed = true;
              throw new Error('killed');
            }
            return (value as (...a: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    return at === 'audit' ? { ...services, db, audit: killing(services.audit, ['append', 'appendWith']) } : { ...services, db, jobs: killing(services.jobs, ['send', 'jobInsert']) };
  };
  /** The ticket answers (comment, undo) queued for `id`. */
  const ticketAnswers = async (id: string) => {
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from pgboss.job where name = 'ticket-update' and data->>'approvalId' = ${id} and data->>'update' = 'refused'`.execute(services.db);
    return rows[0]!.n;
  };
  const status = async (id: string) => (await services.db.selectFrom('approvals').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
  const votes = async (id: string) => (await services.db.selectFrom('decision_votes').select('reviewer').where('approval_id', '=', id).execute()).length;
  const batchStatus = async (id: string) => (await services.db.selectFrom('batches').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
  const decidedAudits = async (ids: string[]) => {
    await services.audit.flush();
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from audit_records where event = 'approval.decided' and approval_id in (${sql.join(ids)})`.execute(services.db);
    return rows[0]!.n;
  };
  const target = async (id: string) => {
    const resolved = await resolveActivityTarget(services.db, id);
    if (!resolved) throw new Error(`no target ${id}`);
    return resolved;
  };

  it('decides the whole batch on redelivery after a crash between its first and second item', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await createApproval(services, agent, { project: 'batched', action: 'pay', summary: `Invoice ${i}`, risk: 'low' })).approval.id);
    const { batch_id: batchId } = await services.db.selectFrom('approvals').select('batch_id').where('id', '=', ids[0]!).executeTakeFirstOrThrow();
    await runBatchClose(services, { batchId: batchId! });
    const opened = await target(batchId!);
    if (opened.kind !== 'batch') throw new Error('not a batch');
    const activity: TicketActivity = { kind: 'approve', actor: 'alice', reason: null, id: 'comment:crash-1', approvalId: batchId!, ticketKey: opened.batch.ticket!.key };

    await expect(applyTicketActivity(crashingAt(2), 'local', activity, opened)).rejects.toThrow('killed');
    expect(await Promise.all(ids.map(status))).toEqual(['approved', 'pending', 'pending']);

    // The provider delivers it again (or reconciliation reads it back).
    expect(await applyTicketActivity(services, 'local', activity, await target(batchId!))).toMatchObject({ result: 'batch' });
    expect(await Promise.all(ids.map(status))).toEqual(['approved', 'approved', 'approved']);
    expect(await Promise.all(ids.map(votes))).toEqual([1, 1, 1]);
    expect(await batchStatus(batchId!)).toBe('decided');
    expect(await decidedAudits(ids)).toBe(3);

    // A third delivery changes nothing.
    const again = await applyTicketActivity(services, 'local', activity, await target(batchId!));
    expect(again.result === 'duplicate' || again.result === 'ignored').toBe(true);
    expect(await decidedAudits(ids)).toBe(3);
  });

  it('applies a single approval’s vote on redelivery after a crash inside its decision', async () => {
    const id = (await createApproval(services, agent, { project: 'solo', action: 'send_email', summary: 'Send it' })).approval.id;
    const ticket = await target(id);
    if (ticket.kind !== 'approval') throw new Error('not an approval');
    const activity: TicketActivity = { kind: 'approve', actor: 'bob', reason: null, id: 'comment:crash-2', approvalId: id, ticketKey: ticket.approval.ticket?.key ?? id };

    await expect(applyTicketActivity(crashingAt(1), 'local', activity, ticket)).rejects.toThrow('killed');
    expect(await status(id)).toBe('pending');

    expect(await applyTicketActivity(services, 'local', activity, await target(id))).toMatchObject({ result: 'attempted', decision: { result: 'decided' } });
    expect(await status(id)).toBe('approved');
    expect(await votes(id)).toBe(1);
    expect(await applyTicketActivity(services, 'local', activity, await target(id))).toMatchObject({ result: 'ignored' });
  });

  // Each of these claims the activity and queues the ticket's answer: before, in two steps, so a
  // crash between them left the activity taken and nobody told on the ticket.
  const answered = [
    { name: 'an issue closed without a decision', project: 'solo', activity: { kind: 'closed', actor: 'bob' }, result: 'reopened' },
    { name: 'an approval of a payload its approver never saw', project: 'editable', activity: { kind: 'approve', actor: 'alice', unseenPayload: 'the description changed after this approval; approve again' }, result: 'edit-refused' },
    { name: 'a payload edit by someone who may not make it', project: 'editable', activity: { kind: 'edited', actor: 'mallory', ticketPayload: { text: '{"to":"elsewhere@evil.example"}', bodyHash: 'body-1' } }, result: 'edit-refused' },
  ] as const;
  for (const [i, { name, project, activity: what, result }] of answered.entries()) {
    it(`answers ${name} on redelivery after a crash before its answer was queued`, async () => {
      const id = (await createApproval(services, agent, { project, action: 'send_email', summary: 'Send it', payload: { to: 'ops@acme.example' } })).approval.id;
      const ticket = await target(id);
      if (ticket.kind !== 'approval') throw new Error('not an approval');
      const activity: TicketActivity = { reason: null, ...what, id: `crash-answer-${i}`, approvalId: id, ticketKey: ticket.approval.ticket?.key ?? id };

      await expect(applyTicketActivity(crashingAt(1, 'jobs'), 'local', activity, ticket)).rejects.toThrow('killed');
      expect(await ticketAnswers(id)).toBe(0);

      expect(await applyTicketActivity(services, 'local', activity, await target(id))).toMatchObject({ result });
      expect(await ticketAnswers(id)).toBe(1);
      expect(await applyTicketActivity(services, 'local', activity, await target(id))).toMatchObject({ result: 'duplicate' });
      expect(await ticketAnswers(id)).toBe(1);
      expect(await status(id)).toBe('pending');
    });
  }

  /** A new approval of `project`, and `actor` adding `label` to its ticket (activity `activityId`). */
  const labeledBy = async (actor: string, project: string, label: string, activityId: string) => {
    const id = (await createApproval(services, agent, { project, action: 'deploy', summary: 'Ship it' })).approval.id;
    const ticket = await target(id);
    if (ticket.kind !== 'approval') throw new Error('not an approval');
    const activity: TicketActivity = { kind: 'labeled', label, actor, reason: null, id: activityId, approvalId: id, ticketKey: ticket.approval.ticket?.key ?? id };
    return { id, ticket, activity };
  };

  it('applies a rule label on redelivery after a crash inside its relabel', async () => {
    const { id, ticket, activity } = await labeledBy('alice', 'ruled', 'two-person', 'label:crash-1');
    const required = async () => (await services.db.selectFrom('approvals').select('required_approvals').where('id', '=', id).executeTakeFirstOrThrow()).required_approvals;

    await expect(applyTicketActivity(crashingAt(1), 'local', activity, ticket)).rejects.toThrow('killed');
    expect(await required()).toBe(1);

    expect(await applyTicketActivity(services, 'local', activity, await target(id))).toMatchObject({ result: 'relabeled', relabel: { result: 'relabeled' } });
    expect(await required()).toBe(2);
    expect(await applyTicketActivity(services, 'local', activity, await target(id))).toMatchObject({ result: 'duplicate' });
  });

  it('escalates on redelivery after a crash inside the escalation an `escalate` label asked for', async () => {
    const { id, ticket, activity } = await labeledBy('alice', 'tiered', 'escalate', 'label:crash-2');
    const tier = async () => (await services.db.selectFrom('approvals').select('escalation_tier').where('id', '=', id).executeTakeFirstOrThrow()).escalation_tier;

    await expect(applyTicketActivity(crashingAt(1), 'local', activity, ticket)).rejects.toThrow('killed');
    expect(await tier()).toBe(0);

    expect(await applyTicketActivity(services, 'local', activity, await target(id))).toMatchObject({ result: 'escalated' });
    expect(await tier()).toBe(1);
    expect(await applyTicketActivity(services, 'local', activity, await target(id))).toMatchObject({ result: 'duplicate' });

    // Nothing further to escalate to: the answer commits with the claim.
    const again: TicketActivity = { ...activity, id: 'label:crash-3' };
    await expect(applyTicketActivity(crashingAt(1, 'jobs'), 'local', again, await target(id))).rejects.toThrow('killed');
    expect(await ticketAnswers(id)).toBe(0);
    expect(await applyTicketActivity(services, 'local', again, await target(id))).toMatchObject({ result: 'escalation-refused' });
    expect(await ticketAnswers(id)).toBe(1);
  });
});
