import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockText, cutText, lineText, payloadJson } from '../../../src/providers/requester-text.ts';
import { hostileText } from '../../helpers/hostile-text.ts';

describe('requester text', () => {
  it('shows bidi, zero-width and control characters, and caps stacked combining marks, in block and line form', () => {
    expect(blockText('a\u202Eb\r\nc\rd\u200Be\u2066\tf')).toBe('a[U+202E]b\nc\nd[U+200B]e[U+2066]\tf');
    expect(lineText(' a\n- [x] b\u2028c\u00AD ')).toBe('a - [x] b c[U+00AD]');
    expect(lineText(`e${'\u0301'.repeat(6)}`)).toBe(`e${'\u0301'.repeat(4)}[U+0301][U+0301]`);
    expect(blockText('👩\u200D💻 a\u200Db')).toBe('👩\u200D💻 a[U+200D]b');
  });

  it('writes the payload as JSON that parses to exactly the payload, with hidden characters escaped', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), hostileText.map((text) => ({ text }))), (payload) => {
        const json = payloadJson(payload);
        expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(payload) ?? 'null'));
        expect(json).not.toMatch(/[\p{Cf}\p{Zl}\p{Zp}\u007F-\u009F]/u);
      }),
    );
  });

  it('cuts text without splitting a surrogate pair and counts what it cut in characters', () => {
    expect(cutText('ab😀c', 3)).toEqual({ text: 'ab', cut: 2 });
    expect(cutText('abc', 5)).toEqual({ text: 'abc', cut: 0 });
  });
});
