import { toStorableText } from '../primitives/safe-text.ts';
import type { TicketActivity } from './provider-adapter.ts';

/** `/approve [note]` or `/reject <reason>` at the start of a comment: the same on every provider. */
const COMMAND = /^\s*\/(approve|reject)(?:[ \t]+([^\r\n]*))?/i;

type Base = Pick<TicketActivity, 'approvalId' | 'ticketKey' | 'actor'>;

/** Whether a comment's text is a decision command at all (checked before anything else is looked up). */
export const isCommentCommand = (text: string) => COMMAND.test(text);

/** A `/approve` or `/reject` comment: a vote, applied once per comment id (it cannot be put back, only answered). */
export function commentActivity(text: string | undefined, commentId: string | number, base: Base): TicketActivity | null {
  const match = COMMAND.exec(text ?? '');
  if (!match) return null;
  // A provider's API can hand back what its webhook would have carried: keep the reason storable.
  const reason = match[2] ? toStorableText(match[2].trim()) || null : null;
  return { ...base, kind: match[1]!.toLowerCase() === 'approve' ? 'approve' : 'reject', reason, id: `comment:${commentId}` };
}
