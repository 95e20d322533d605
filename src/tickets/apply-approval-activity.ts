import type { ApprovalRow } from '../db/schema.ts';
import type { ProjectMapping, ProviderName } from '../projects/mapping-schema.ts';
import type { TicketActivity } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';
import type { ActivityResult } from './activity-result.ts';
import { applyTicketLabel } from './apply-ticket-label.ts';
import { ActivityAlreadyApplied, decideApproval } from '../approvals/decide-approval.ts';
import { refuseOnTicket } from './refuse-on-ticket.ts';
import { claimActivity, claimAndApply } from './ticket-activity-claims.ts';
import { applyTicketEdit, restoreTicket, ticketEditOf } from './ticket-payload-edit.ts';

/**
 * What a person did on a single approval's ticket: a vote goes through the decision engine
 * (which authorizes it and, if refused, queues the ticket being put back); a ticket closed
 * without deciding is put back by a job; a label escalates or feeds the rules.
 */
export async function applyApprovalActivity(services: Services, provider: ProviderName, approval: ApprovalRow, project: ProjectMapping, activity: TicketActivity): Promise<ActivityResult> {
  if (approval.provider !== provider) return { result: 'ignored', reason: `no ${provider} approval ${activity.approvalId}` };
  // The marker names the approval, but only its own ticket speaks for it. (No ticket stored yet:
  // the create job crashed after opening it; the marker, on an issue our account opened, decides.)
  if (approval.ticket && approval.ticket.key !== activity.ticketKey) return { result: 'ignored', reason: `approval ${approval.id} belongs to ${approval.ticket.key}` };
  if (approval.status !== 'pending') return { result: 'ignored', reason: `approval ${approval.id} is already ${approval.status}` };

  if (activity.kind === 'edited') return applyTicketEdit(services, provider, approval, project, activity);
  // An approval arriving with an edited payload block: an edit by that reviewer, or refused.
  const fromTicket = await ticketEditOf(services, provider, approval, project, activity);
  // A refusal's answer (and the ticket put back) commits with the claim: see claimAndApply.
  const refuse = async (reason: string, restore: boolean) =>
    claimAndApply(services.db, provider, activity.id, approval.id, async (trx) => {
      if (restore) await restoreTicket(services, trx, provider, approval.id);
      await refuseOnTicket({ db: trx, jobs: services.jobs }, approval.id, activity.actor, reason, activity.revert);
    });
  if ('refused' in fromTicket) {
    if (!(await refuse(fromTicket.refused, fromTicket.restore)).claimed) return { result: 'duplicate' };
    return { result: 'edit-refused', reason: fromTicket.refused };
  }
  if (activity.kind === 'closed') {
    if (!(await refuse('closing the issue does not decide the approval', false)).claimed) return { result: 'duplicate' };
    return { result: 'reopened' };
  }

  if (activity.kind === 'labeled') return applyTicketLabel(services, provider, approval, project, activity);

  try {
    // A vote is claimed inside the decision's own transaction: both commit, or neither does.
    const decision = await decideApproval(
      services,
      { approvalId: approval.id, reviewer: activity.actor, outcome: activity.kind, reason: activity.reason, via: provider, ...(activity.revert ? { revert: activity.revert } : {}), ...(activity.edit ?? fromTicket.edit ? { edit: activity.edit ?? fromTicket.edit! } : {}), ...(activity.grant ? { grant: activity.grant } : {}) },
      { project, claim: (trx) => claimActivity(trx, provider, activity.id, approval.id) },
    );
    if (decision.result === 'counted' && activity.revert && services.providers.get(provider).capabilities.revertsCountedVotes) {
      const more = decision.required - decision.approvals;
      await refuseOnTicket(
        services,
        approval.id,
        activity.actor,
        `your approval is counted (${decision.approvals} of ${decision.required}); ${more} more reviewer${more === 1 ? '' : 's'} must approve before it is decided`,
        activity.revert,
      );
    }
    return { result: 'attempted', decision };
  } catch (error) {
    if (error instanceof ActivityAlreadyApplied) return { result: 'duplicate' };
    throw error;
  }
}
