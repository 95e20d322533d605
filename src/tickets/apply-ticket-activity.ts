import { batchItems } from '../batching/batches.ts';
import { decideBatch, type BatchDecisionResult } from '../batching/decide-batch.ts';
import { findIdentity } from '../providers/identity-key.ts';
import { executorFor } from '../db/open-database.ts';
import type { ApprovalRow, ProviderEventTables } from '../db/schema.ts';
import { CountersignError } from '../primitives/errors.ts';
import { escalateNow } from '../escalation/escalation.ts';
import type { ProviderName } from '../projects/mapping-schema.ts';
import { findProject } from '../projects/project-store.ts';
import type { TicketActivity } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';
import { authorizedReviewers, decideApproval, type DecisionResult } from '../approvals/decide-approval.ts';
import { relabelApproval, type RelabelResult } from './relabel-approval.ts';

export type ActivityResult =
  | { result: 'ignored'; reason: string }
  | { result: 'duplicate' }
  | { result: 'reopened' }
  | { result: 'attempted'; decision: DecisionResult }
  /** A decision on a batch ticket: each pending item through the decision engine. */
  | { result: 'batch'; decision: BatchDecisionResult }
  /** The `escalate` label: escalated now, or refused (label removed, comment). */
  | { result: 'escalated' | 'escalation-refused' }
  /** Any other label: the approval's rules re-resolved (relabel-approval.ts). */
  | { result: 'relabeled'; relabel: RelabelResult };

/** The label a person adds on a pending ticket to move it to the next escalation tier now. */
export const ESCALATE_LABEL = 'escalate';

/**
 * Applies what a person did on a ticket, from a webhook or from reconciliation alike: a vote
 * goes through the decision engine (which authorizes it and, if refused, queues the ticket
 * being put back); a ticket closed without deciding is put back by a job. Every activity is
 * applied at most once by its content id (`TicketActivity.id`), whichever path sees it first
 * and however often it is delivered: no second vote, escalation, comment or audit record.
 */
export async function applyTicketActivity(services: Services, provider: ProviderName, activity: TicketActivity): Promise<ActivityResult> {
  if (activity.approvalId.startsWith('bat_')) return applyBatchActivity(services, provider, activity);
  const approval = await services.db.selectFrom('approvals').selectAll().where('id', '=', activity.approvalId).executeTakeFirst();
  if (!approval || approval.provider !== provider) return { result: 'ignored', reason: `no ${provider} approval ${activity.approvalId}` };
  // The marker names the approval, but only its own ticket speaks for it. (No ticket stored yet:
  // the create job crashed after opening it; the marker, on an issue our account opened, decides.)
  if (approval.ticket && approval.ticket.key !== activity.ticketKey) return { result: 'ignored', reason: `approval ${approval.id} belongs to ${approval.ticket.key}` };
  if (approval.status !== 'pending') return { result: 'ignored', reason: `approval ${approval.id} is already ${approval.status}` };

  // Claimed whatever comes of it (counted, refused, escalated): the same activity seen again —
  // replayed under a new delivery id, or read back by reconciliation — finds it taken.
  if (!(await claimActivity(services, provider, activity.id, approval.id))) return { result: 'duplicate' };
  try {
    if (activity.kind === 'labeled') return await applyLabel(services, provider, approval, activity);
    if (activity.kind === 'closed') {
      await services.jobs.send(executorFor(services.db), 'ticket-update', {
        approvalId: approval.id,
        update: 'refused',
        actor: activity.actor,
        reason: 'closing the issue does not decide the approval',
        ...(activity.revert ? { revert: activity.revert } : {}),
      });
      return { result: 'reopened' };
    }
    const decision = await decideApproval(services, {
      approvalId: approval.id,
      reviewer: activity.actor,
      outcome: activity.kind,
      reason: activity.reason,
      via: provider,
      ...(activity.revert ? { revert: activity.revert } : {}),
    });
    if (decision.result === 'counted' && activity.revert && activity.revertIfStillPending) {
      const more = decision.required - decision.approvals;
      await services.jobs.send(executorFor(services.db), 'ticket-update', {
        approvalId: approval.id,
        update: 'refused',
        actor: activity.actor,
        reason: `your approval is counted (${decision.approvals} of ${decision.required}); ${more} more reviewer${more === 1 ? '' : 's'} must approve before it is decided`,
        revert: activity.revert,
      });
    }
    return { result: 'attempted', decision };
  } catch (error) {
    await releaseActivity(services, provider, activity.id);
    throw error;
  }
}

/** Queues the one comment (and undo) for an attempt on a ticket that changed nothing. */
async function refuseOnTicket(services: Services, targetId: string, actor: string, reason: string, revert?: string): Promise<void> {
  await services.jobs.send(executorFor(services.db), 'ticket-update', { approvalId: targetId, update: 'refused', actor, reason, ...(revert ? { revert } : {}) });
}

/**
 * A label a person added on a single approval's ticket. `escalate` moves it to the next tier now
 * (reviewers only; anyone else's label is removed with a comment); any other label feeds the
 * project's rules (relabel-approval.ts).
 */
async function applyLabel(services: Services, provider: ProviderName, approval: ApprovalRow, activity: TicketActivity): Promise<ActivityResult> {
  const label = activity.label;
  if (!label) return { result: 'ignored', reason: 'labeled activity without a label' };
  if (label !== ESCALATE_LABEL) {
    const relabel = await relabelApproval(services, { approvalId: approval.id, label, actor: { kind: 'reviewer', id: activity.actor, via: provider } });
    return { result: 'relabeled', relabel };
  }
  const project = await findProject(services.db, approval.project);
  if (!project || !findIdentity(activity.actor, authorizedReviewers(project, approval), services.providers.identities(provider))) {
    await refuseOnTicket(services, approval.id, activity.actor, `${activity.actor} is not a reviewer of project ${approval.project}; only reviewers may escalate`, activity.revert);
    return { result: 'escalation-refused' };
  }
  try {
    await escalateNow(services, approval.id, { kind: 'reviewer', id: activity.actor, via: provider });
    return { result: 'escalated' };
  } catch (error) {
    if (!(error instanceof CountersignError) || error.code !== 'not_escalatable') throw error;
    await refuseOnTicket(services, approval.id, activity.actor, 'there is no further escalation tier to move this approval to', activity.revert);
    return { result: 'escalation-refused' };
  }
}

/** `/reject apr_… <reason>` on a batch ticket: the item id the reason starts with, and the rest as the reason. */
function namedItem(reason: string | null): { approvalId: string; reason: string | null } | undefined {
  const match = /^\s*(apr_[0-9a-z]+)\b[\s:—-]*([\s\S]*)$/i.exec(reason ?? '');
  return match ? { approvalId: match[1]!.toLowerCase(), reason: match[2]!.trim() || null } : undefined;
}

/**
 * What a person did on a batch ticket (`activity.approvalId` is the batch's `bat_…` id), for any
 * provider. Approving decides every pending item through `decideBatch`, excluding (rejecting) the
 * items the ticket no longer shows as selected; rejecting rejects them all; `/reject apr_… reason`
 * rejects that one item, which the batch approval then no longer covers. A refused attempt is
 * answered with one comment on the batch ticket, never one per item.
 */
async function applyBatchActivity(services: Services, provider: ProviderName, activity: TicketActivity): Promise<ActivityResult> {
  const batch = await services.db.selectFrom('batches').selectAll().where('id', '=', activity.approvalId).executeTakeFirst();
  if (!batch || batch.provider !== provider) return { result: 'ignored', reason: `no ${provider} batch ${activity.approvalId}` };
  if (batch.ticket && batch.ticket.key !== activity.ticketKey) return { result: 'ignored', reason: `batch ${batch.id} belongs to ${batch.ticket.key}` };
  if (batch.status !== 'ticketed') return { result: 'ignored', reason: `batch ${batch.id} is ${batch.status}` };
  if (activity.kind === 'labeled') return { result: 'ignored', reason: 'labels on a batch ticket do not change its items' };
  const items = await batchItems(services, batch.id);
  const pending = items.filter((item) => item.status === 'pending');
  if (pending.length === 0) return { result: 'ignored', reason: `batch ${batch.id} has no pending item` };
  const named = activity.kind === 'reject' ? namedItem(activity.reason) : undefined;
  if (named && !items.some((item) => item.id === named.approvalId)) {
    // A typo must not reject the whole batch: say so and change nothing.
    if (await claimActivity(services, provider, activity.id, items[0]!.id)) {
      await refuseOnTicket(services, batch.id, activity.actor, `${named.approvalId} is not a request of this batch`);
    }
    return { result: 'ignored', reason: `${named.approvalId} is not in batch ${batch.id}` };
  }
  if (!(await claimActivity(services, provider, activity.id, named?.approvalId ?? items[0]!.id))) return { result: 'duplicate' };

  try {
    if (activity.kind === 'closed') {
      await refuseOnTicket(services, batch.id, activity.actor, 'closing the issue does not decide the batch', activity.revert);
      return { result: 'reopened' };
    }
    if (named) {
      const decision = await decideApproval(services, { approvalId: named.approvalId, reviewer: activity.actor, outcome: 'reject', reason: named.reason, via: provider });
      // The item's own refusal update is dropped (its ticket is the batch's): answer on the batch.
      if (decision.result === 'refused') await refuseOnTicket(services, batch.id, activity.actor, decision.reason);
      if (decision.result === 'decided') await settleBatch(services, batch.id);
      return { result: 'attempted', decision };
    }
    const selected = activity.kind === 'approve' && activity.selected ? new Set(activity.selected) : undefined;
    const exclude = selected
      ? pending.filter((item) => !selected.has(item.id)).map((item) => ({ approvalId: item.id, reason: `left out of the batch approval by ${activity.actor} (unticked on the ticket)` }))
      : [];
    const decision = await decideBatch(services, {
      batchId: batch.id,
      reviewer: activity.actor,
      outcome: activity.kind,
      reason: activity.reason,
      via: provider,
      exclude,
      ...(activity.revert ? { revert: activity.revert } : {}),
    });
    const counted = decision.items.find((item) => item.result === 'counted');
    if (counted && activity.revert && activity.revertIfStillPending) {
      await refuseOnTicket(services, batch.id, activity.actor, 'your approval is counted; more reviewers must approve before the batch is decided', activity.revert);
    }
    return { result: 'batch', decision };
  } catch (error) {
    await releaseActivity(services, provider, activity.id);
    throw error;
  }
}

/** After one item of a batch was decided on its own: when it was the last pending one, the batch is decided and its ticket told, once. */
async function settleBatch(services: Services, batchId: string): Promise<void> {
  if ((await batchItems(services, batchId, 'pending')).length > 0) return;
  await services.db.transaction().execute(async (trx) => {
    const settled = await trx.updateTable('batches').set({ status: 'decided' }).where('id', '=', batchId).where('status', '=', 'ticketed').executeTakeFirst();
    if (settled.numUpdatedRows > 0n) await services.jobs.send(executorFor(trx), 'ticket-update', { approvalId: batchId, update: 'decided' });
  });
}

/** Records an activity id as applied; false when it was applied before (a redelivery, or reconciliation seeing it again). */
async function claimActivity(services: Services, provider: ProviderName, activityId: string, approvalId: string): Promise<boolean> {
  const fresh = await services.db
    .withTables<ProviderEventTables>()
    .insertInto('ticket_activities')
    .values({ provider, activity_id: activityId, approval_id: approvalId })
    .onConflict((oc) => oc.doNothing())
    .returning('activity_id')
    .executeTakeFirst();
  return fresh !== undefined;
}

/** Not applied after all: let a redelivery or the next reconciliation try again. */
async function releaseActivity(services: Services, provider: ProviderName, activityId: string): Promise<void> {
  await services.db.withTables<ProviderEventTables>().deleteFrom('ticket_activities').where('provider', '=', provider).where('activity_id', '=', activityId).execute();
}
