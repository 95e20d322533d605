import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import type { TicketActivity } from '../provider-adapter.ts';
import { readTickedItems } from './github-issue-body.ts';

type Base = Pick<TicketActivity, 'approvalId' | 'ticketKey' | 'actor'>;

/** Labels Countersign itself sets and reads: adding one by hand is not a label rule input. */
const OWN_LABEL = /^(?:escalated:\d+|risk:(?:low|medium|high))$/;

/**
 * A label added by someone. The mapping's approved or rejected label is a vote, undone by
 * removing the label if refused; any other (`escalate`, or one the label rules match on) is
 * `labeled`, except the labels Countersign manages itself (pending, `escalated:N`, `risk:*`).
 */
export function labelActivity(project: ProjectMapping, label: string, base: Base): TicketActivity | null {
  if (label === project.labels.approved) return { ...base, kind: 'approve', reason: null, revert: `label:${label}` };
  if (label === project.labels.rejected) return { ...base, kind: 'reject', reason: null, revert: `label:${label}` };
  if (label === project.labels.pending || OWN_LABEL.test(label)) return null;
  return { ...base, kind: 'labeled', reason: null, label, revert: `label:${label}` };
}

/**
 * On a batch issue, an approval covers only the items still ticked in the body at that moment
 * (the webhook's `issue.body`, or the body reconciliation reads): the others are excluded.
 */
export function withBatchSelection(activity: TicketActivity | null, body: string | null | undefined): TicketActivity | null {
  if (!activity || activity.kind !== 'approve' || !activity.approvalId.startsWith('bat_')) return activity;
  return { ...activity, selected: readTickedItems(body) };
}

/**
 * A pending issue closed by hand. Closed as "not planned" it is a rejection (refused, and the
 * issue reopened, unless the closer is a reviewer); closed any other way it decides nothing
 * and is reopened with a comment.
 */
export function closeActivity(stateReason: string | null | undefined, base: Base): TicketActivity {
  return stateReason === 'not_planned'
    ? { ...base, kind: 'reject', reason: 'closed as not planned', revert: 'reopen' }
    : { ...base, kind: 'closed', reason: null, revert: 'reopen' };
}
