import { queueChannelNotice } from '../channels/channel-notices.ts';
import { queueTicketUpdate } from '../approvals/queue-ticket-update.ts';
import type { Transaction } from 'kysely';
import type { AuditActor } from '../audit/audit-record.ts';
import { ActivityAlreadyApplied, afterDecisionCommitted, finalize } from '../approvals/decide-approval.ts';
import { executorFor } from '../db/open-database.ts';
import type { ApprovalRow, Database } from '../db/schema.ts';
import { parseDuration } from '../primitives/duration.ts';
import { conflict, notFound } from '../primitives/errors.ts';
import type { Services } from '../services.ts';
import type { JobData } from '../jobs/job-queue.ts';

const TIMER: AuditActor = { kind: 'policy', id: 'escalation', via: 'timer' };
/** A timer firing this much before its tier's time still counts (clocks of instances and database differ a little). */
const STALE_TOLERANCE_MS = 1000;

/**
 * Queues the durable timer of tier `tier` (1-based). Each tier's `after` counts from the
 * request, so a restart or a late previous tier does not push later tiers back.
 */
export async function scheduleEscalation(services: Services, trx: Transaction<Database>, approval: ApprovalRow, tier: number): Promise<void> {
  const timer = escalationTimer(approval.policy?.escalation ?? [], approval.id, tier);
  if (!timer) return;
  const fireAt = new Date(approval.created_at.getTime() + timer.afterMs);
  await services.jobs.send(executorFor(trx), 'escalation-timer', timer.data, { startAfter: fireAt });
}

/**
 * The timer of tier `tier` (1-based) of `tiers`, if there is one: its job's data, and how long
 * after the request it fires. Intake writes the first in the row's own statement, whose `now()`
 * is the row's created_at (create-approval.ts).
 */
export function escalationTimer(tiers: readonly { after: string }[], approvalId: string, tier: number): { data: JobData['escalation-timer']; afterMs: number } | undefined {
  const definition = tiers[tier - 1];
  if (!definition) return undefined;
  return { data: { approvalId, tier }, afterMs: parseDuration(definition.after)! };
}

/** The timer of one tier fired: escalate, unless the approval was decided or escalated past it meanwhile. */
export async function runEscalationTimer(services: Services, { approvalId, tier }: { approvalId: string; tier: number }): Promise<void> {
  await escalate(services, approvalId, TIMER, tier);
}

/**
 * What a ticket's `escalate` label brings along: the claim of its activity, taken with the row
 * lock held (as `decideApproval`'s), and the ticket's answer should there be no tier to move to,
 * queued in the same transaction, so a crash leaves neither taken without the other.
 */
export interface EscalationRequest {
  claim(trx: Transaction<Database>): Promise<boolean>;
  refuse(trx: Transaction<Database>): Promise<void>;
}

/** A person asked (the `escalate` label): move to the next tier now. */
export async function escalateNow(services: Services, approvalId: string, actor: AuditActor, request?: EscalationRequest): Promise<ApprovalRow> {
  const result = await escalate(services, approvalId, actor, undefined, request);
  if (!result) throw conflict('not_escalatable', `approval ${approvalId} is not pending or has no further escalation tier`);
  return result;
}

/**
 * Moves a pending approval to tier `tier` (default: the next). A tier with reviewers adds and
 * assigns them on the ticket; a final tier with an outcome decides as actor `policy`. The row
 * lock orders this against a reviewer's decision: whichever commits first wins, and the
 * other finds the approval no longer pending.
 */
async function escalate(services: Services, approvalId: string, actor: AuditActor, tier: number | undefined, request?: EscalationRequest): Promise<ApprovalRow | undefined> {
  let decided: ApprovalRow | undefined;
  const result = await services.db.transaction().execute(async (trx) => {
    const approval = await trx.selectFrom('approvals').selectAll().where('id', '=', approvalId).forUpdate().executeTakeFirst();
    if (!approval) throw notFound(`no approval ${approvalId}`);
    if (request && !(await request.claim(trx))) throw new ActivityAlreadyApplied();
    const target = tier ?? approval.escalation_tier + 1;
    const definition = approval.policy?.escalation[target - 1];
    if (approval.status !== 'pending' || approval.escalation_tier >= target || !definition) {
      await request?.refuse(trx);
      return undefined;
    }
    // A timer queued under tiers a ticket label has since replaced (relabel-approval.ts) may fire
    // before the tier's current time: stale, the timer queued with the new tiers escalates.
    if (tier !== undefined && approval.created_at.getTime() + parseDuration(definition.after)! > services.now().getTime() + STALE_TOLERANCE_MS) return undefined;

    if (definition.outcome) {
      const outcome = definition.outcome === 'reject' ? 'rejected' : 'expired';
      const reason = `no decision within ${definition.after} (escalation tier ${target})`;
      decided = await finalize(services, trx, approval, { outcome, by: ['policy'], reason });
      await services.audit.append(trx, { event: 'approval.decided', approvalId, actor, data: { outcome, reason, tier: target } });
      return decided;
    }

    const escalated = await trx.updateTable('approvals').set({ escalation_tier: target }).where('id', '=', approvalId).returningAll().executeTakeFirstOrThrow();
    const by = actor.kind === 'reviewer' ? { by: actor.id } : {};
    await queueTicketUpdate(services, executorFor(trx), escalated.provider, { approvalId, update: 'escalated', tier: target, reviewers: definition.reviewers ?? [], ...by });
    await queueChannelNotice(services, trx, escalated, { kind: 'needs-review', tier: target, ...by });
    await scheduleEscalation(services, trx, escalated, target + 1);
    await services.audit.append(trx, { event: 'approval.escalated', approvalId, actor, data: { tier: target, reviewers: definition.reviewers ?? [], after: definition.after } });
    return escalated;
  });
  if (decided) afterDecisionCommitted(services, decided);
  return result;
}
