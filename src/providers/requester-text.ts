/**
 * Requester text as a reviewer may safely read it, on any channel (GitHub, Jira, and later Slack,
 * email, web pages). Everything the gated agent writes (`summary`, `details`, `action`,
 * `requestedBy`, `labels`, payload strings) passes through here before a channel puts it inside
 * a construct it cannot escape: the channel handles its own syntax, this module handles what
 * Unicode alone can do to a reader.
 *
 * - Bidi controls (U+202A–202E, U+2066–2069, U+200E/F, U+061C) reorder what is displayed: "Trojan
 *   Source", https://trojansource.codes/. Zero-width and other format characters (U+200B–200D,
 *   U+2060, U+FEFF, U+00AD, tags) hide text or make two strings look alike. Control characters
 *   and the Unicode line/paragraph separators break lines where a channel does not expect it.
 *   All of them are shown as a visible `[U+XXXX]`, never dropped: the reviewer sees that they
 *   are there. A zero-width joiner between two emoji (👩‍💻) is kept.
 * - Long runs of combining marks ("Zalgo") draw over the lines above and below, where
 *   Countersign's own text is: a mark after the fourth in a row is shown as `[U+XXXX]` too.
 */

/** A character that can hide, reorder or fake text, or a run of more combining marks than a script needs. */
const SUSPECT = /\p{M}{5,}|[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
const MARK = /^\p{M}/u;
const MAX_MARKS = 4;
/** A ZWJ inside an emoji sequence: part of the picture, not hidden text. */
const EMOJI_ZWJ = /(?<=\p{Extended_Pictographic}\uFE0F?)\u200D(?=\p{Extended_Pictographic})/uy;

function emojiJoiner(text: string, at: number): boolean {
  EMOJI_ZWJ.lastIndex = at;
  return EMOJI_ZWJ.test(text);
}

const codePoint = (char: string) => `[U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`;

/**
 * Shows every character of `text` that could hide, reorder or fake text, keeping `keep`
 * (characters the caller handles itself, such as `\n` and `\t` for block text).
 */
function reveal(text: string, keep: ReadonlySet<string>, show: (char: string) => string): string {
  return text.replace(SUSPECT, (match: string, at: number) => {
    if (MARK.test(match)) {
      const marks = [...match];
      return marks.slice(0, MAX_MARKS).join('') + marks.slice(MAX_MARKS).map(show).join('');
    }
    if (keep.has(match) || (match === '\u200D' && emojiJoiner(text, at))) return match;
    return show(match);
  });
}

const BLOCK_KEEP: ReadonlySet<string> = new Set(['\n', '\t']);
const NOTHING: ReadonlySet<string> = new Set();

/**
 * Multi-line requester text (`details`): line endings made `\n` (a lone `\r` is a line break in
 * Markdown), tabs kept, every invisible or reordering character shown as `[U+XXXX]`.
 *
 * @example blockText('pay\u202Eevil') // 'pay[U+202E]evil'
 */
export function blockText(text: string): string {
  return reveal(text.replace(/\r\n?/g, '\n'), BLOCK_KEEP, codePoint);
}

/**
 * One-line requester text (action, requester, label, a summary in a list or title): every run of
 * whitespace, line breaks included, becomes one space, so the text cannot start a line of its own.
 *
 * @example lineText(' send\n- [x] apr_1 ') // 'send - [x] apr_1'
 */
export function lineText(text: string): string {
  return reveal(text.replace(/[\s\p{Zl}\p{Zp}]+/gu, ' ').trim(), NOTHING, codePoint);
}

/**
 * The payload as indented JSON, with the same characters written as JSON `\uXXXX` escapes: the
 * text still parses to exactly the approved payload, and a reviewer sees every character of it.
 * `null` for a payload JSON cannot represent (`undefined`).
 */
export function payloadJson(payload: unknown): string {
  const json = JSON.stringify(payload, null, 2) ?? 'null';
  const escape = (char: string) => Array.from({ length: char.length }, (_, i) => `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`).join('');
  return reveal(json, BLOCK_KEEP, escape);
}

/**
 * Cuts `text` to at most `max` UTF-16 units without splitting a surrogate pair. Returns the kept
 * part and how many characters (code points) were cut.
 */
export function cutText(text: string, max: number): { text: string; cut: number } {
  if (text.length <= max) return { text, cut: 0 };
  let end = Math.max(0, max);
  const last = text.charCodeAt(end - 1);
  if (end > 0 && last >= 0xd800 && last <= 0xdbff) end -= 1;
  return { text: text.slice(0, end), cut: [...text.slice(end)].length };
}
