import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isoTime } from '../../../src/audit/read-audit-snapshot.ts';

// A record's time is hashed as Date#toISOString gives it. The reader rewrites PostgreSQL's
// UTC form by its digits instead of parsing it: both must give the same text for every time,
// or a log would stop verifying (or a changed time pass) depending on which path read it.
const viaDate = (time: string) => new Date(time).toISOString();

/** A time as PostgreSQL's JSON writes a timestamptz in a session at UTC: fraction without trailing zeros, none when zero. */
const postgresForm = (date: Date, offset = '+00:00') => {
  const iso = date.toISOString();
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return `${iso.slice(0, 19)}${fraction ? `.${fraction}` : ''}${offset}`;
};

describe('isoTime', () => {
  it('gives what Date gives for every time PostgreSQL writes at UTC', () => {
    const time = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true });
    fc.assert(fc.property(time, (date) => {
          expect(isoTime(postgresForm(date))).toBe(viaDate(postgresForm(date)));
        }), { numRuns: 5000 });
    for (const edge of ['2026-12-01T21:47:56+00:00', '2026-12-01T21:47:56.1+00:00', '2026-12-01T21:47:56.12+00:00', '2026-12-01T21:47:56.123+00:00', '2024-02-29T23:59:59.999+00:00']) expect(isoTime(edge)).toBe(viaDate(edge));
  });

  it('reads any other form as Date does: another offset, microseconds, and throws for what Date cannot hold', () => {
    for (const other of ['2026-12-01T22:47:56.416+01:00', '2026-12-01T21:47:56.416789+00:00', '2026-12-01T21:47:56.4167+00:00', '2026-12-01T21:47:56.416Z', '+010000-01-01T00:00:00.000Z']) expect(isoTime(other)).toBe(viaDate(other));
    expect(() => isoTime('not a time')).toThrow(RangeError);
  });
});
