import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { DEFAULT_REVIEW_SETTINGS, reviewSettingsSchema } from '../../../src/projects/review-settings.ts';
import { outsideWorkingHours, type Review } from '../../../src/review/build-review.ts';
import { renderReview, REVIEW_CSV_COLUMNS } from '../../../src/review/render-review.ts';

const hostile = '<script>alert(1)</script>';
const review: Review = {
  period: { since: '2026-11-24T00:00:00.000Z', until: '2026-12-01T00:00:00.000Z' },
  project: null,
  thresholds: { fastDecisionSeconds: 10, shareThreshold: 0.8, shareMinimumApprovals: 5, workingHours: DEFAULT_REVIEW_SETTINGS.workingHours },
  reviewers: [{ reviewer: hostile, decisions: { low: { approve: 1, reject: 0 }, medium: { approve: 0, reject: 0 }, high: { approve: 0, reject: 0 } }, approvalsWithoutReason: 1, medianSecondsToDecide: 2, fastestSecondsToDecide: 2, fastDecisions: 1, outsideWorkingHours: 0 }],
  projects: [],
  refused: [{ actor: '=cmd|calc', code: 'not_a_reviewer', count: 1, approvalIds: ['apr_1'] }],
  flags: [{ kind: 'fast_decision', project: null, actor: hostile, message: `${hostile} decided 1 request faster than 10 s`, approvalIds: ['apr_1'] }],
};

describe('review renderers', () => {
  it('html escapes every value from the log and loads nothing', () => {
    const html = renderReview(review, 'html');
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toMatch(/<script|src=|href=/i);
  });

  it('csv parses with its columns and neutralises formula cells', () => {
    const rows = parseCsv(renderReview(review, 'csv'), { columns: true }) as Array<Record<string, string>>;
    expect(Object.keys(rows[0]!)).toEqual([...REVIEW_CSV_COLUMNS]);
    expect(rows).toContainEqual(expect.objectContaining({ section: 'refused', actor: "'=cmd|calc" }));
  });
});

describe('working hours', () => {
  it('are read on the clock of their time zone, daylight saving included', () => {
    const berlin = reviewSettingsSchema.parse({ workingHours: { start: '09:00', end: '17:00', timeZone: 'Europe/Berlin' } }).workingHours;
    // 07:30 UTC is 09:30 in Berlin in summer (CEST), 08:30 in winter (CET).
    expect(outsideWorkingHours('2026-07-07T07:30:00Z', berlin)).toBe(false);
    expect(outsideWorkingHours('2026-12-01T07:30:00Z', berlin)).toBe(true);
    // A Saturday.
    expect(outsideWorkingHours('2026-12-05T10:00:00Z', berlin)).toBe(true);
  });

  it('refuses settings that cannot work, naming the field', () => {
    expect(reviewSettingsSchema.safeParse({ workingHours: { timeZone: 'Mars/Olympus' } }).error?.issues[0]).toMatchObject({ path: ['workingHours', 'timeZone'] });
    expect(reviewSettingsSchema.safeParse({ workingHours: { start: '18:00', end: '08:00' } }).error?.issues[0]).toMatchObject({ path: ['workingHours', 'end'] });
    expect(reviewSettingsSchema.safeParse({ schedule: 'every monday' }).success).toBe(false);
    expect(reviewSettingsSchema.safeParse({ shareThreshold: 1.5 }).success).toBe(false);
  });
});
