import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fitToLimit, type Fitted } from '../../../src/tickets/fit-to-limit.ts';
import { requesterLabels } from '../../../src/tickets/requester-labels.ts';
import { blockText, cutText, lineText, payloadJson } from '../../../src/tickets/requester-text.ts';
import { hostileText } from '../../helpers/hostile-text.ts';

/** A stand-in channel: a fixed frame, the payload, then each field with a note when trimmed. */
const HASH = `sha256:${'f'.repeat(64)}`;
const render = (payload: Fitted, fields: readonly Fitted[]) =>
  [`hash ${HASH}`, payload.text, payload.cut ? `(cut ${payload.cut})` : '', ...fields.map((field) => `${field.text}${field.cut ? ` (trimmed ${field.cut})` : ''}`)].join('\n');
const fit = (limit: number, payload: string, fields: string[]) => fitToLimit({ limit, size: (text: string) => text.length, payload, fields, render });

describe('fitToLimit', () => {
  it('changes nothing that fits', () => {
    expect(fit(1_000, '{}', ['a', 'b'])).toBe(render({ text: '{}', cut: 0 }, [{ text: 'a', cut: 0 }, { text: 'b', cut: 0 }]));
  });

  it('trims the longest requester text first and leaves short fields and the payload whole', () => {
    const out = fit(10_000, 'P'.repeat(3_000), ['send_email', 'agent-7', 'd'.repeat(50_000)]);
    expect(out.length).toBeLessThanOrEqual(10_000);
    expect(out).toContain(`\n${'P'.repeat(3_000)}\n`);
    expect(out).toContain('\nsend_email\nagent-7\n');
    const trimmed = Number(/\(trimmed (\d+)\)$/.exec(out)![1]);
    expect(out.split('\n').at(-1)!.replace(/ \(trimmed \d+\)$/, '').length + trimmed).toBe(50_000);
    expect(out).toContain(HASH);
  });

  it('cuts the payload only when the requester text is down to a little, and never the frame', () => {
    const out = fit(20_000, 'P'.repeat(100_000), ['summary', 'd'.repeat(100_000)]);
    expect(out.length).toBeLessThanOrEqual(20_000);
    expect(out.startsWith(`hash ${HASH}\n`)).toBe(true);
    expect(out).toMatch(/\(cut \d+\)/);
    expect(out).toContain('\nsummary\n');
    expect(out).toMatch(/d{1000,} \(trimmed \d+\)$/);
  });

  it('fits any mix of field lengths within any limit the frame allows', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 30_000 }), { maxLength: 6 }), fc.nat({ max: 50_000 }), fc.integer({ min: 3_000, max: 40_000 }), (lengths, payload, limit) => {
        const out = fit(limit, 'P'.repeat(payload), lengths.map((n) => 'f'.repeat(n)));
        expect(out.length).toBeLessThanOrEqual(limit);
        expect(out).toContain(HASH);
      }),
    );
  });
});

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

  it('leaves off labels that impersonate Countersign labels, whatever their case or spacing', () => {
    const rules = { reserved: ['approved', 'rejected'], reservedPrefixes: ['risk:', 'countersign'], maxLength: 10 };
    expect(requesterLabels(['Approved', ' rejected ', 'RISK:low', 'countersign-apr_x', 'ok', 'OK', 'abcdefghijklmno', 'a\u200Bb'], rules)).toEqual(['ok', 'abcdefghi…', 'a[U+200B]b']);
  });
});
