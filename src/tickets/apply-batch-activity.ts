import type { ActivityResult } from './activity-result.ts';
import { ActivityAlreadyApplied, decideApproval } from '../approvals/decide-approval.ts';
import { refuseOnTicket } from './refuse-on-ticket.ts';
import { claimActivity, claimAndApply } from './ticket-activity-claims.ts';
import { executorFor } from '../db/open-database.ts';
import type { BatchRow } from '../db/schema.ts';
import type { ProjectMapping, ProviderName } from '../projects/mapping-schema.ts';
import type { TicketActivity } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';
import { batchItems } from '../batching/batches.ts';
import { decideBatch } from '../batching/decide-batch.ts';
import { itemRejection } from '../batching/item-rejection.ts';

/**
 * What a person did on a batch ticket (`activity.approvalId` is the batch's id), for any
 * provider. Approving decides every pending item through `decideBatch`, excluding (rejecting) the
 * items the ticket no longer shows as selected; rejecting rejects them all; `/reject apr_… reason`
 * rejects that one item, which the batch approval then no longer covers. A refused attempt is
 * answered with one comment on the batch ticket, never one per item.
 */
export async function applyBatchActivity(services: Services, provider: ProviderName, batch: BatchRow, project: ProjectMapping, activity: TicketActivity): Promise<ActivityResult> {
  if (batch.provider !== provider) return { result: 'ignored', reason: `no ${provider} batch ${activity.approvalId}` };
  if (batch.ticket && batch.ticket.key !== activity.ticketKey) return { result: 'ignored', reason: `batch ${batch.id} belongs to ${batch.ticket.key}` };
  if (batch.status !== 'ticketed') return { result: 'ignored', reason: `batch ${batch.id} is ${batch.status}` };
  if (activity.kind === 'labeled') return { result: 'ignored', reason: 'labels on a batch ticket do not change its items' };
  // A batch's selection is read from its ticket when it is approved (its ticked items), not as edits.
  if (activity.kind === 'edited') return { result: 'ignored', reason: 'edits of a batch ticket are read when it is approved' };
  const items = await batchItems(services, batch.id);
  const pending = items.filter((item) => item.status === 'pending');
  if (pending.length === 0) return { result: 'ignored', reason: `batch ${batch.id} has no pending item` };
  const named = activity.kind === 'reject' ? itemRejection(activity.reason) : undefined;
  if (named && !items.some((item) => item.id === named.approvalId)) {
    // A typo must not reject the whole batch: say so and change nothing.
    await claimAndRefuse(services, provider, activity, items[0]!.id, batch.id, `${named.approvalId} is not a request of this batch`);
    return { result: 'ignored', reason: `${named.approvalId} is not in batch ${batch.id}` };
  }
  if (activity.kind === 'closed') {
    if (!(await claimAndRefuse(services, provider, activity, items[0]!.id, batch.id, 'closing the issue does not decide the batch', activity.revert))) return { result: 'duplicate' };
    return { result: 'reopened' };
  }

  // Each claim below commits with what it applies, never before it: a crash between claiming and
  // deciding lost the batch decision, as its redelivery found the activity taken (issue 19).
  try {
    if (named) {
      let decision;
      try {
        decision = await decideApproval(services, { approvalId: named.approvalId, reviewer: activity.actor, outcome: 'reject', reason: named.reason, via: provider }, { project, claim: (trx) => claimActivity(trx, provider, activity.id, named.approvalId) });
      } catch (error) {
        if (!(error instanceof ActivityAlreadyApplied)) throw error;
        // Applied before, perhaps by a run that stopped before settling the batch: settling is idempotent.
        await settleBatch(services, batch.id);
        return { result: 'duplicate' };
      }
      // The item's own refusal update is dropped (its ticket is the batch's): answer on the batch.
      if (decision.result === 'refused') await refuseOnTicket(services, batch.id, activity.actor, decision.reason);
      if (decision.result === 'decided') await settleBatch(services, batch.id);
      return { result: 'attempted', decision };
    }
    const selected = activity.kind === 'approve' && activity.selected ? new Set(activity.selected) : undefined;
    const exclude = selected
      ? pending.filter((item) => !selected.has(item.id)).map((item) => ({ approvalId: item.id, reason: `left out of the batch approval by ${activity.actor} (unticked on the ticket)` }))
      : [];
    const decision = await decideBatch(
      services,
      { batchId: batch.id, reviewer: activity.actor, outcome: activity.kind, reason: activity.reason, via: provider, exclude, ...(activity.revert ? { revert: activity.revert } : {}) },
      {
        batch,
        project,
        claims: {
          item: (trx, approvalId) => claimActivity(trx, provider, itemPart(activity.id, approvalId), approvalId),
          batch: (trx) => claimActivity(trx, provider, activity.id, items[0]!.id),
        },
      },
    );
    const counted = decision.items.find((item) => item.result === 'counted');
    if (counted && activity.revert && services.providers.get(provider).capabilities.revertsCountedVotes) {
      await refuseOnTicket(services, batch.id, activity.actor, 'your approval is counted; more reviewers must approve before the batch is decided', activity.revert);
    }
    return { result: 'batch', decision };
  } catch (error) {
    if (error instanceof ActivityAlreadyApplied) return { result: 'duplicate' };
    throw error;
  }
}

/** The claim of one item's part of a batch activity: its own id, beside the whole activity's. */
function itemPart(activityId: string, approvalId: string): string {
  return `${activityId} ${approvalId}`;
}

/** Claims the activity and queues the batch ticket's answer in one transaction: false when it was claimed before. */
async function claimAndRefuse(services: Services, provider: ProviderName, activity: TicketActivity, approvalId: string, batchId: string, reason: string, revert?: string): Promise<boolean> {
  const applied = await claimAndApply(services.db, provider, activity.id, approvalId, (trx) => refuseOnTicket({ db: trx, jobs: services.jobs }, batchId, activity.actor, reason, revert));
  return applied.claimed;
}

/** After one item of a batch was decided on its own: when it was the last pending one, the batch is decided and its ticket told, once. */
async function settleBatch(services: Services, batchId: string): Promise<void> {
  if ((await batchItems(services, batchId, 'pending')).length > 0) return;
  await services.db.transaction().execute(async (trx) => {
    const settled = await trx.updateTable('batches').set({ status: 'decided' }).where('id', '=', batchId).where('status', '=', 'ticketed').executeTakeFirst();
    if (settled.numUpdatedRows > 0n) await services.jobs.send(executorFor(trx), 'ticket-update', { approvalId: batchId, update: 'decided' });
  });
}
