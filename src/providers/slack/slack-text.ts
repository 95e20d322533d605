import { blockText, cutText, lineText } from '../requester-text.ts';

/**
 * Requester text in Slack. Slack's mrkdwn is an injection surface: `<@U…>`, `<!channel>`,
 * `<!here>`, `<!subteam^…>` notify people, `<url|text>` shows text over a link it hides,
 * `*`/`_`/`~`/`` ` ``/`>` format, and a client also links bare URLs and channel names. So what
 * the agent wrote never goes into mrkdwn as mrkdwn:
 *
 * - one-line text (summary, action, requester, a reason) goes into `plain_text` objects, which
 *   Slack renders without formatting, links or mentions;
 * - multi-line text (details, the payload) goes into a code block inside `verbatim` mrkdwn
 *   (no automatic linking): formatting is off inside it, and the only way out, a run of three
 *   backticks, is broken up;
 * - and everywhere `&`, `<` and `>` are escaped as Slack documents, so no `<…>` construct
 *   survives, whatever the object's type; every invisible or reordering character is shown as
 *   `[U+XXXX]` first (requester-text.ts).
 */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A zero-width space between backticks: ``` can no longer close the code block (U+200B is Countersign's, added after requester-text revealed the requester's own). */
const breakFences = (text: string) => text.replace(/`(?=`)/g, '`\u200B');

/** Slack's plain_text object for one line of requester text (never empty: Slack refuses that). */
export function plainText(text: string): { type: 'plain_text'; text: string; emoji: false } {
  // 600 characters escape to at most 3,000 (`&amp;`), Slack's limit for a text object; the message links the whole request.
  const { text: kept, cut } = cutText(lineText(text), 600);
  const line = escapeSlack(kept) + (cut > 0 ? ` … (${cut} more characters in Countersign)` : '');
  return { type: 'plain_text', text: line === '' ? ' ' : line, emoji: false };
}

/** Multi-line requester text (or the payload's JSON, already revealed) as a mrkdwn code block. */
export function codeBlock(text: string, { reveal = true } = {}): string {
  const shown = reveal ? blockText(text) : text;
  return `\`\`\`\n${breakFences(escapeSlack(shown)).replace(/`$/, '`\u200B')}\n\`\`\``;
}

const SLACK_USER = /^[UW][A-Z0-9]{2,30}$/;

/** Whether `id` is a Slack user id (`U…`, `W…` on Enterprise Grid). */
export const isSlackUserId = (id: string) => SLACK_USER.test(id);

/** A mention of a Slack user id from the mapping or the signed request; anything else shown as escaped code, never parsed. */
export function mention(id: string): string {
  return isSlackUserId(id) ? `<@${id}>` : `\`${escapeSlack(lineText(id)).replace(/`/g, "'")}\``;
}
