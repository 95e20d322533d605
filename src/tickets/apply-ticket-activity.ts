import { applyBatchActivity } from '../tickets/apply-batch-activity.ts';
import type { ProviderName } from '../projects/mapping-schema.ts';
import type { TicketActivity } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';
import type { ActivityTarget } from '../tickets/activity-target.ts';
import type { ActivityResult } from '../tickets/activity-result.ts';
import { applyApprovalActivity } from '../tickets/apply-approval-activity.ts';

export type { ActivityResult } from '../tickets/activity-result.ts';
export { ESCALATE_LABEL } from '../tickets/apply-ticket-label.ts';

/**
 * Applies what a person did on a ticket, from a webhook or from reconciliation alike, to the
 * target the caller resolved once (activity-target.ts): a single approval
 * (apply-approval-activity.ts) or a batch (apply-batch-activity.ts). Every activity is applied
 * at most once by its content id (`TicketActivity.id`), whichever path sees it first and however
 * often it is delivered: no second vote, escalation, comment or audit record.
 */
export async function applyTicketActivity(services: Services, provider: ProviderName, activity: TicketActivity, target: ActivityTarget): Promise<ActivityResult> {
  if (target.id !== activity.approvalId) return { result: 'ignored', reason: `activity names ${activity.approvalId}, not ${target.id}` };
  if (target.kind === 'batch') return applyBatchActivity(services, provider, target.batch, target.project, activity);
  return applyApprovalActivity(services, provider, target.approval, target.project, activity);
}
