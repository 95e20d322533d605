import type { ProviderEventTables } from '../db/migrations/0003-github.ts';
import { executorFor } from '../db/open-database.ts';
import type { ProviderName } from '../projects/mapping-schema.ts';
import type { TicketActivity } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';
import { decideApproval, type DecisionResult } from './decide-approval.ts';

export type ActivityResult =
  | { result: 'ignored'; reason: string }
  | { result: 'duplicate' }
  | { result: 'reopened' }
  | { result: 'attempted'; decision: DecisionResult };

/**
 * Applies what a person did on a ticket, from a webhook or from reconciliation alike: a vote
 * goes through the decision engine (which authorizes it and, if refused, queues the ticket
 * being put back); a ticket closed without deciding is put back by a job. An activity with an
 * id is applied at most once, whichever path sees it first.
 */
export async function applyTicketActivity(services: Services, provider: ProviderName, activity: TicketActivity): Promise<ActivityResult> {
  const approval = await services.db
    .selectFrom('approvals')
    .select(['id', 'provider', 'status', 'ticket'])
    .where('id', '=', activity.approvalId)
    .executeTakeFirst();
  if (!approval || approval.provider !== provider) return { result: 'ignored', reason: `no ${provider} approval ${activity.approvalId}` };
  // The marker names the approval, but only its own ticket speaks for it. (No ticket stored yet:
  // the create job crashed after opening it; the marker, on an issue our account opened, decides.)
  if (approval.ticket && approval.ticket.key !== activity.ticketKey) return { result: 'ignored', reason: `approval ${approval.id} belongs to ${approval.ticket.key}` };
  if (approval.status !== 'pending') return { result: 'ignored', reason: `approval ${approval.id} is already ${approval.status}` };

  const db = services.db.withTables<ProviderEventTables>();
  if (activity.id) {
    const fresh = await db
      .insertInto('ticket_activities')
      .values({ provider, activity_id: activity.id, approval_id: approval.id })
      .onConflict((oc) => oc.doNothing())
      .returning('activity_id')
      .executeTakeFirst();
    if (!fresh) return { result: 'duplicate' };
  }
  try {
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
    // Not applied after all: let a redelivery or the next reconciliation try again.
    if (activity.id) await db.deleteFrom('ticket_activities').where('provider', '=', provider).where('activity_id', '=', activity.id).execute();
    throw error;
  }
}
