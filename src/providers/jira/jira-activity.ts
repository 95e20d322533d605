import { commentActivity as sharedCommentActivity, isCommentCommand } from '../comment-command.ts';
import type { TicketActivity } from '../provider-adapter.ts';
import { plainText } from './jira-issue-description.ts';
import type { JiraChangeItem, JiraUser } from './jira-issues-like.ts';
import type { ResolvedStatuses } from './jira-statuses.ts';

type Base = Pick<TicketActivity, 'approvalId' | 'ticketKey' | 'actor'>;

/** Cloud users are known by `accountId`; Data Center users by `name` (what reviewers list there). */
export const userId = (user: JiraUser | null | undefined): string | undefined => user?.accountId ?? user?.name ?? undefined;

/** Whether a comment body is a decision command at all (checked before anything else is looked up). */
export const isCommand = (body: unknown) => isCommentCommand(plainText(body));

/** The changelog item that changed the status, if any. */
export const statusChange = (items: readonly JiraChangeItem[] | undefined) => items?.find((item) => item.fieldId === 'status' || item.field === 'status');

/** A `/approve` or `/reject` comment, read from its Atlassian Document Format body. */
export const commentActivity = (body: unknown, commentId: string, base: Base): TicketActivity | null => sharedCommentActivity(plainText(body), commentId, base);

/**
 * A move to the mapping's approved or rejected status, matched by status id: a vote, applied
 * once per changelog id (the webhook and the REST changelog share it). If it is refused, or
 * counted while more approvals are needed, the issue is moved back to where it came from.
 */
export function statusActivity(statuses: ResolvedStatuses, item: JiraChangeItem, changelogId: string | undefined, base: Base): TicketActivity | null {
  const kind = item.to === statuses.approvedId ? 'approve' : item.to === statuses.rejectedId ? 'reject' : undefined;
  if (!kind) return null;
  return {
    ...base,
    kind,
    reason: null,
    ...(changelogId ? { id: `changelog:${changelogId}` } : {}),
    ...(item.from ? { revert: `status:${item.from}`, revertIfStillPending: true } : {}),
  };
}
