import { parseDuration } from '../primitives/duration.ts';
import { toStorableText } from '../primitives/safe-text.ts';
import type { TicketActivity } from './provider-adapter.ts';

/** `/approve [for 8h] [note]` or `/reject <reason>` at the start of a comment: the same on every provider. */
const COMMAND = /^\s*\/(approve|reject)(?:[ \t]+([^\r\n]*))?/i;

type Base = Pick<TicketActivity, 'approvalId' | 'ticketKey' | 'actor'>;

const GRANT = /^for[ \t]+(\d+[smhd])\b[ \t]*(.*)$/i;

/** Whether a comment's text is a decision command at all (checked before anything else is looked up). */
export const isCommentCommand = (text: string) => COMMAND.test(text);

/** A `/approve` or `/reject` comment: a vote, applied once per comment id (it cannot be put back, only answered). */
export function commentActivity(text: string | undefined, commentId: string | number, base: Base): TicketActivity | null {
  const match = COMMAND.exec(text ?? '');
  if (!match) return null;
  // A provider's API can hand back what its webhook would have carried: keep the reason storable.
  const text_ = match[2] ? toStorableText(match[2].trim()) : '';
  const approve = match[1]!.toLowerCase() === 'approve';
  // `/approve for 8h …`: and allow the same for that long (a standing grant; the engine checks the project allows it).
  const grant = approve ? GRANT.exec(text_) : null;
  const hours = grant ? (parseDuration(grant[1]!) ?? 0) / 3_600_000 : 0;
  const reason = (grant && hours > 0 ? grant[2]!.trim() : text_) || null;
  return { ...base, kind: approve ? 'approve' : 'reject', reason, id: `comment:${commentId}`, ...(grant && hours > 0 ? { grant: { hours } } : {}) };
}
