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
 * The id of a status change: its changelog id, which the webhook and the REST changelog share.
 * `X-Atlassian-Webhook-Identifier` is not signed, so it cannot be the only guard; a delivery
 * without a changelog id is named by the rest of its signed content (issue, actor, move and
 * the event's `timestamp`). `undefined` when even that is missing: not acted on.
 */
export function statusChangeId(changelogId: string | undefined, content: { issue: string; actor: string; item: JiraChangeItem; timestamp: number | undefined }): string | undefined {
  if (changelogId) return `changelog:${changelogId}`;
  if (content.timestamp === undefined) return undefined;
  return `status:${content.issue}:${content.actor}:${content.item.from ?? ''}>${content.item.to ?? ''}:${content.timestamp}`;
}

/**
 * A move to the mapping's approved or rejected status, matched by status id: a vote, applied
 * once per id (`statusChangeId`). If it is refused, or counted while more approvals are
 * needed, the issue is moved back to where it came from.
 */
export function statusActivity(statuses: ResolvedStatuses, item: JiraChangeItem, id: string | undefined, base: Base): TicketActivity | null {
  const kind = item.to === statuses.approvedId ? 'approve' : item.to === statuses.rejectedId ? 'reject' : undefined;
  if (!kind || !id) return null;
  return {
    ...base,
    id,
    kind,
    reason: null,
    ...(item.from ? { revert: `status:${item.from}` } : {}),
  };
}
