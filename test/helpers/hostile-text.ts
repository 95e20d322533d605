import fc from 'fast-check';

/**
 * What an agent (or whoever steers it) can put in a request to change how a ticket renders: the
 * constructs of GitHub-flavoured Markdown and HTML in Markdown, GitHub's own filters (mentions,
 * references, autolinks, emoji), Unicode that hides or reorders text, and fakes of Countersign's
 * own parts (marker, hash, headings, task lines).
 */
const CONSTRUCTS = [
  '<!--', '-->', '<!-- countersign:apr_evil -->', '<!-- countersign:bat_evil -->', '<!--countersign:apr_0-->',
  '<details>', '<details open><summary>Approve</summary>', '</details>', '<div align="right">', '</div>', '<table><tr><td>', '</td></tr></table>',
  '<img src="https://evil.example/x.png">', '<script>alert(1)</script>', '<a href="https://evil.example">', '</a>', '<pre>', '</code>', '</pre>', '<h1>', '<input type="checkbox" checked>',
  '```', '````', '~~~', '~~~~', '```json', '    indented code',
  '| a | b |', '|---|---|', '- [ ] ', '- [x] apr_00 ', '- [x] `apr_01` ', '* [X] apr_02', '1. [x] apr_03',
  '@alice', '@bob', '@acme/admins', '#12', 'acme/approvals#3', 'GH-7', 'deadbeefcafe1234',
  '[Approve](https://evil.example/approve)', '![x](https://evil.example/x.png)', '<https://evil.example>', 'https://evil.example/a_b', 'www.evil.example', 'evil@example.com',
  '[ref]: https://evil.example', '[ref]', '[The approval in Countersign]', '[^1]', '[^1]: footnote',
  '# Heading', '### How to decide', '### Payload', '**Payload hash** `sha256:' + 'b'.repeat(64) + '`', '===', '---', '***', '> quote',
  '&lt;', '&#64;alice', '&amp;', '&#x3C;!--', ':white_check_mark:', '~~strike~~', '**bold**', '_em_', '\\', '  ',
  '\u202E', '\u202D', '\u2066', '\u2069', '\u200E', '\u200B', '\u200D', '\u2060', '\uFEFF', '\u00AD', '\u2028', '\u0000', '\u0085', 'e\u0301\u0301\u0301\u0301\u0301\u0301\u0301',
  '\n', '\n\n', '\r', '\r\n', '\t', ' ', 'x',
] as const;

const run = (char: string) => fc.integer({ min: 1, max: 12 }).map((n) => char.repeat(n));

/** One hostile string: a few constructs, runs of fence characters and random text, in any order. */
export const hostileText = fc
  .array(fc.oneof(fc.constantFrom(...CONSTRUCTS), run('`'), run('~'), fc.string({ maxLength: 6, unit: 'grapheme' })), { minLength: 1, maxLength: 14 })
  .map((parts) => parts.join(''));

/** Every field an agent writes on a single request. */
export const hostileRequest = fc.record({
  summary: hostileText,
  details: fc.option(hostileText, { nil: null }),
  action: hostileText,
  requestedBy: fc.option(hostileText, { nil: null }),
  labels: fc.array(hostileText, { maxLength: 4 }),
  payload: fc.oneof(fc.jsonValue(), hostileText.map((note) => ({ note, nested: [note, { deeper: note }] }))),
});

/** The items an agent's requests put on a batch ticket. */
export const hostileItems = fc.array(fc.record({ summary: hostileText, action: hostileText }), { minLength: 1, maxLength: 5 });
