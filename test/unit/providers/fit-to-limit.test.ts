import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fitToLimit, type Fitted } from '../../../src/providers/fit-to-limit.ts';

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
