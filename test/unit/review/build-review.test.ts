import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../src/audit/audit-record.ts';
import { DEFAULT_REVIEW_SETTINGS } from '../../../src/projects/review-settings.ts';
import { buildReview } from '../../../src/review/build-review.ts';
import type { ReviewInput } from '../../../src/review/review-input.ts';

let seq = 0;
const record = (event: string, approvalId: string, actor: AuditRecord['actor'], time: string, data: Record<string, unknown> = {}): AuditRecord => ({ seq: ++seq, time, approvalId, event, actor, data, prevHash: '', keyId: '', hash: '', signature: '' });

describe('buildReview', () => {
  it('counts one person deciding in two channels as one reviewer, and standing grants by grant', () => {
    const input: ReviewInput = {
      requested: new Map([
        ['apr_1', { project: 'ops', risk: 'high', time: '2026-11-24T10:00:00.000Z' }],
        ['apr_2', { project: 'ops', risk: 'low', time: '2026-11-24T10:00:00.000Z' }],
        ['apr_3', { project: 'ops', risk: 'low', time: '2026-11-24T10:00:00.000Z' }],
      ]),
      records: [
        record('approval.decided', 'apr_1', { kind: 'reviewer', id: 'alice-gh', via: 'github' }, '2026-11-24T10:05:00.000Z', { outcome: 'approve', reason: 'ok', status: 'approved' }),
        record('approval.decided', 'apr_2', { kind: 'reviewer', id: 'U012AB3CD', via: 'slack' }, '2026-11-24T10:06:00.000Z', { outcome: 'approve', reason: 'ok', status: 'approved' }),
        record('approval.decided', 'apr_3', { kind: 'policy', id: 'grant:grt_1', via: 'intake' }, '2026-11-24T10:07:00.000Z', { outcome: 'approved', reason: 'standing grant' }),
      ],
    };
    const personOf = (actor: AuditRecord['actor']) => (actor.id === 'alice-gh' || actor.id === 'U012AB3CD' ? 'alice' : undefined);
    const review = buildReview(input, { ...DEFAULT_REVIEW_SETTINGS, shareMinimumApprovals: 2 }, { since: new Date('2026-11-24T00:00:00Z'), until: new Date('2026-12-01T00:00:00Z'), personOf });
    expect(review.reviewers.map((r) => r.reviewer)).toEqual(['alice']);
    expect(review.projects[0]).toMatchObject({ approvals: 2, topApprover: { reviewer: 'alice', share: 1 }, grants: { 'grant:grt_1': 1 } });
    expect(review.flags.map((f) => f.kind)).toEqual(['one_person_share']);
  });
});
