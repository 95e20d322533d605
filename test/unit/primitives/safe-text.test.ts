import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { safeText, toStorableText, unsafeTextReason } from '../../../src/primitives/safe-text.ts';

describe('safe text', () => {
  it('makes any string storable, and leaves storable ones as they are', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const storable = toStorableText(text);
        expect(unsafeTextReason(storable)).toBeUndefined();
        if (unsafeTextReason(text) === undefined) expect(storable).toBe(text);
      }),
    );
  });

  it('tells NUL, a lone high or low surrogate and control characters apart, by code point', () => {
    expect(unsafeTextReason('a\u0000')).toMatch(/U\+0000/);
    expect(unsafeTextReason('\ud83d')).toMatch(/lone surrogate U\+D83D/);
    expect(unsafeTextReason('x\ude00')).toMatch(/lone surrogate U\+DE00/);
    expect(unsafeTextReason('😀 𝄞')).toBeUndefined();
    expect(unsafeTextReason('a\nb', { singleLine: true })).toMatch(/U\+000A/);
    expect(unsafeTextReason('a\n\tb\r\n', { singleLine: false })).toBeUndefined();
    expect(unsafeTextReason('a\u001bb', { singleLine: false })).toMatch(/U\+001B/);
    expect(unsafeTextReason('a\u0007b')).toBeUndefined();
  });

  it('is a zod string that names the problem and keeps min and max', () => {
    const schema = safeText({ min: 1, max: 5 });
    expect(schema.safeParse('ok').success).toBe(true);
    expect(schema.safeParse('').success).toBe(false);
    expect(schema.safeParse('toolong').success).toBe(false);
    expect(schema.safeParse('a\u0000').error?.issues[0]?.message).toMatch(/NUL/);
  });
});
