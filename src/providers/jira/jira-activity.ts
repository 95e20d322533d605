import { commentActivity as sharedCommentActivity, isCommentCommand } from '../comment-command.ts';
import type { TicketActivity } from '../provider-adapter.ts';
import { sha256Hex } from '../../primitives/canonical-json.ts';
import { idKind } from '../../primitives/ids.ts';
import { plainText, readPayloadBlock } from './jira-issue-description.ts';
import type { JiraChangeItem, JiraHistory, JiraUser } from './jira-issues-like.ts';
import type { ResolvedStatuses } from './jira-statuses.ts';

type Base = Pick<TicketActivity, 'approvalId' | 'ticketKey' | 'actor'>;

/** Cloud users are known by `accountId`; Data Center users by `name` (what reviewers list there). */
export const userId = (user: JiraUser | null | undefined): string | undefined => user?.accountId ?? user?.name ?? undefined;

/** Whether a comment body is a decision command at all (checked before anything else is looked up). */
export const isCommand = (body: unknown) => isCommentCommand(plainText(body));

/** The changelog item that changed the status, if any. */
export const statusChange = (items: readonly JiraChangeItem[] | undefined) => items?.find((item) => item.fieldId === 'status' || item.field === 'status');

/** The changelog item that changed the description, if any. */
export const descriptionChange = (items: readonly JiraChangeItem[] | undefined) => items?.find((item) => item.fieldId === 'description' || item.field === 'description');

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

/**
 * The payload block of a description, as an activity carries it. `bodyHash` is the hash of the
 * block's text, not of the whole document: the block is all Countersign reads, and the same
 * description can come as ADF of slightly different form (node attributes, key order) from a
 * webhook and from REST, which must still match. Whoever edits the description in any way
 * becomes its last editor (`ticket_edits`), as on GitHub, so an approval still counts an edit
 * only for the person who last changed the description it shows.
 */
export function descriptionPayload(description: unknown): TicketActivity['ticketPayload'] {
  const text = readPayloadBlock(description);
  return text === undefined ? undefined : { text, bodyHash: sha256Hex(text) };
}

/**
 * When an activity happened, to tell whether the description read later is still the one it
 * saw: its own changelog entry (a status move, a description edit) and the event's time.
 */
export interface Moment {
  historyId?: string | undefined;
  at?: number | undefined;
}

/**
 * Whether the description was changed after `moment` (by anyone, Countersign included), going
 * by the issue's changelog: history ids are Jira's ascending change-group ids, compared when
 * both are known; otherwise the entry's `created` time, where the same millisecond counts as
 * after. A moment with neither cannot be placed, and counts as changed since.
 */
export function descriptionChangedSince(histories: readonly JiraHistory[], moment: Moment): boolean {
  const own = moment.historyId !== undefined && /^\d+$/.test(moment.historyId) ? Number(moment.historyId) : undefined;
  return histories.some((history) => {
    if (!descriptionChange(history.items) || (history.id !== undefined && history.id === moment.historyId)) return false;
    if (own !== undefined && history.id !== undefined && /^\d+$/.test(history.id)) return Number(history.id) > own;
    const created = Date.parse(history.created ?? '');
    return moment.at === undefined || Number.isNaN(moment.at) || Number.isNaN(created) || created >= moment.at;
  });
}

/** The description's latest change in a changelog (highest id), if any. */
export function lastDescriptionChange(histories: readonly JiraHistory[]): JiraHistory | undefined {
  const changes = histories.filter((history) => descriptionChange(history.items));
  return changes.sort((a, b) => Number(a.id ?? 0) - Number(b.id ?? 0) || Date.parse(a.created ?? '') - Date.parse(b.created ?? '')).at(-1);
}

/** The reason an approval is refused when the description it was given on has changed since (see `TicketActivity.unseenPayload`). */
export const UNSEEN_PAYLOAD = 'the description changed after this approval was given, so Countersign cannot tell which payload was approved; check the payload block and approve again';

/**
 * An approval on a single approval's issue, with the payload block as the description showed it
 * at that moment: the event's own copy when it carries one; otherwise the description read now,
 * if its changelog shows no change since the moment; otherwise it is refused (`unseenPayload`),
 * so a late webhook cannot approve an edit its approver never saw. Batches show no payload.
 */
export function approvalAtMoment(activity: TicketActivity | null, reading: { description: unknown; histories?: readonly JiraHistory[]; moment?: Moment }): TicketActivity | null {
  if (!activity || activity.kind !== 'approve' || idKind(activity.approvalId) === 'batch') return activity;
  if (reading.histories && descriptionChangedSince(reading.histories, reading.moment ?? {})) return { ...activity, unseenPayload: UNSEEN_PAYLOAD };
  const payload = descriptionPayload(reading.description);
  return payload ? { ...activity, ticketPayload: payload } : activity;
}

/**
 * The id of a description edit: its changelog id (shared by the webhook and the REST
 * changelog), in a namespace of its own because one changelog entry may also move the status
 * (a transition screen with the description on it). Without one, the signed content names it:
 * issue, actor, the event's time and the block it left. `undefined` when even that is missing.
 */
export function descriptionEditId(changelogId: string | undefined, content: { issue: string; actor: string; timestamp: number | undefined; blockHash: string | undefined }): string | undefined {
  if (changelogId) return `description:${changelogId}`;
  if (content.timestamp === undefined) return undefined;
  return `description:${content.issue}:${content.actor}:${content.timestamp}:${content.blockHash ?? ''}`;
}

/** Someone changed a single approval's description: an `edited` activity carrying the payload block it left (none: nothing to judge). */
export function descriptionEditActivity(base: Base, id: string | undefined, description: unknown): TicketActivity | null {
  if (!id || idKind(base.approvalId) === 'batch') return null;
  const payload = descriptionPayload(description);
  return { ...base, id, kind: 'edited', reason: null, ...(payload ? { ticketPayload: payload } : {}) };
}
