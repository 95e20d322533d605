import type { DecisionAttempt, DecisionResult, NotCountedVote } from './decision-attempt.ts';
import type { AuditEntry } from '../audit/audit-record.ts';
import { payloadHash } from '../primitives/canonical-json.ts';
import { findJsonValueProblem } from '../primitives/json-value-problem.ts';

/** Earlier votes the count left out (their reviewer was removed since), named in the record; nothing when every vote counted. */
const notCounted = (votes: NotCountedVote[] | undefined) => (votes && votes.length > 0 ? { notCounted: votes.map((v) => ({ reviewer: v.reviewer, reason: v.reason })) } : {});

/**
 * The audit record of one decision attempt, whatever became of it: decided, counted
 * toward M of N, refused (with why), or late (the approval was already terminal).
 */
export function decisionAuditEntry(attempt: DecisionAttempt, outcome: DecisionResult): AuditEntry {
  // An automatic decision by a mapping rule is the policy's, not a person's.
  const actor = { kind: attempt.via === 'policy' ? ('policy' as const) : ('reviewer' as const), id: attempt.reviewer, via: attempt.via };
  const base = { approvalId: attempt.approvalId, actor };
  // An edit is recorded by the hash it proposed (the patch, when applied, with the vote); a grant asked for, as asked.
  const tried = {
    outcome: attempt.outcome,
    reason: attempt.reason ?? null,
    ...(attempt.edit && !findJsonValueProblem(attempt.edit.payload) ? { editedPayloadHash: payloadHash(attempt.edit.payload) } : {}),
    ...(attempt.grant ? { grant: attempt.grant } : {}),
  };
  const edit = outcome.result === 'decided' || outcome.result === 'counted' ? (outcome.edit ? { edit: outcome.edit } : {}) : {};
  switch (outcome.result) {
    case 'decided':
      return { ...base, event: 'approval.decided', data: { ...tried, status: outcome.approval.status, decision: outcome.approval.decision, ...edit, ...notCounted(outcome.notCounted) } };
    case 'counted':
      return { ...base, event: 'decision.counted', data: { ...tried, approvals: outcome.approvals, required: outcome.required, ...edit, ...notCounted(outcome.notCounted) } };
    case 'refused':
      return { ...base, event: 'decision.refused', data: { ...tried, code: outcome.code, refusal: outcome.reason } };
    case 'late':
      return { ...base, event: 'decision.late', data: { ...tried, status: outcome.approval.status } };
  }
}
