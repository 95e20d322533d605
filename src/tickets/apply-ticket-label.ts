import type { Transaction } from 'kysely';
import type { ApprovalRow, Database } from '../db/schema.ts';
import { CountersignError } from '../primitives/errors.ts';
import { escalateNow } from '../escalation/escalation.ts';
import type { ProjectMapping, ProviderName } from '../projects/mapping-schema.ts';
import type { TicketActivity } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';
import type { ActivityResult } from './activity-result.ts';
import { ActivityAlreadyApplied, findReviewer } from '../approvals/decide-approval.ts';
import { claimActivity, claimAndApply } from './ticket-activity-claims.ts';
import { ESCALATE_LABEL } from './escalate-label.ts';
import { refuseOnTicket } from './refuse-on-ticket.ts';
import { relabelApproval } from './relabel-approval.ts';

export { ESCALATE_LABEL } from './escalate-label.ts';

/**
 * A label a person added on a single approval's ticket. `escalate` moves it to the next tier now
 * (reviewers only; anyone else's label is removed with a comment); any other label feeds the
 * project's rules (relabel-approval.ts).
 */
export async function applyTicketLabel(services: Services, provider: ProviderName, approval: ApprovalRow, project: ProjectMapping, activity: TicketActivity): Promise<ActivityResult> {
  const label = activity.label;
  if (!label) return { result: 'ignored', reason: 'labeled activity without a label' };
  if (label !== ESCALATE_LABEL) {
    // Claimed in the relabel's own transaction: both commit, or neither does.
    try {
      const relabel = await relabelApproval(services, { approvalId: approval.id, label, actor: { kind: 'reviewer', id: activity.actor, via: provider }, claim: (trx) => claimActivity(trx, provider, activity.id, approval.id) });
      return { result: 'relabeled', relabel };
    } catch (error) {
      if (error instanceof ActivityAlreadyApplied) return { result: 'duplicate' };
      throw error;
    }
  }
  return escalateByLabel(services, provider, approval, project, activity);
}

/**
 * The `escalate` label, from reviewers only: anyone else's is refused (and removed). Its claim
 * commits with the escalation, or with the ticket's answer that there is nothing to escalate to.
 */
async function escalateByLabel(services: Services, provider: ProviderName, approval: ApprovalRow, project: ProjectMapping, activity: TicketActivity): Promise<ActivityResult> {
  const refuse = (reason: string) => (trx: Transaction<Database>) => refuseOnTicket({ db: trx, jobs: services.jobs }, approval.id, activity.actor, reason, activity.revert);
  if (!findReviewer(await services.people.load(services.db), project, approval, { namespace: provider, id: activity.actor })) {
    const refused = await claimAndApply(services.db, provider, activity.id, approval.id, refuse(`${activity.actor} is not a reviewer of project ${approval.project}; only reviewers may escalate`));
    return refused.claimed ? { result: 'escalation-refused' } : { result: 'duplicate' };
  }
  try {
    await escalateNow(services, approval.id, { kind: 'reviewer', id: activity.actor, via: provider }, {
      claim: (trx) => claimActivity(trx, provider, activity.id, approval.id),
      refuse: refuse('there is no further escalation tier to move this approval to'),
    });
    return { result: 'escalated' };
  } catch (error) {
    if (error instanceof ActivityAlreadyApplied) return { result: 'duplicate' };
    if (error instanceof CountersignError && error.code === 'not_escalatable') return { result: 'escalation-refused' };
    throw error;
  }
}
