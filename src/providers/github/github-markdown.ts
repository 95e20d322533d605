import { blockText, lineText } from '../requester-text.ts';

/*
 * Requester text in GitHub-flavoured Markdown. Only code is safe: GitHub renders the body with
 * cmark-gfm and then runs its filters (mentions, #references, commit links, emoji, autolinks) on
 * the resulting text, skipping `code` and `pre`. Backslash escapes or entities stop Markdown but
 * not those filters (`\@alice` still renders `@alice` and notifies her), so every piece of
 * requester text goes into a code span or a fenced code block, from which neither Markdown, raw
 * HTML nor GitHub's filters can reach the rest of the ticket.
 */

const longestRun = (text: string, char: '`' | '~') => Math.max(0, ...[...text.matchAll(char === '`' ? /`+/g : /~+/g)].map((m) => m[0].length));

/**
 * A fenced code block holding `text` (requester text, or the payload JSON): the fence is longer
 * than any backtick run in the text, so no line of it can close the block (CommonMark 4.5: the
 * closing fence is at least as long as the opening one). A lone `\r` is already a line break in
 * `blockText`, so no "line" escapes the count.
 */
export function codeBlock(text: string, info = 'text'): string {
  const fence = '`'.repeat(Math.max(3, longestRun(text, '`') + 1));
  return [`${fence}${info}`, ...(text === '' ? [] : [text]), fence].join('\n');
}

/** {@link codeBlock} for requester text: invisible and reordering characters are shown first. */
export const requesterBlock = (text: string) => codeBlock(blockText(text));

/**
 * Requester text as an inline code span on one line: whitespace and line breaks collapsed (a line
 * break could start a list item, a heading or an HTML block whatever came before it), delimited
 * by more backticks than any run inside, and padded when the text starts or ends with a backtick
 * (CommonMark 6.1). An empty text is a span holding one space, so the span is always there.
 */
export function requesterSpan(text: string): string {
  const line = lineText(text);
  const ticks = '`'.repeat(longestRun(line, '`') + 1);
  const pad = line === '' || line.startsWith('`') || line.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${line}${pad}${ticks}`;
}
