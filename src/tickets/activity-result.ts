import type { BatchDecisionResult } from '../batching/decide-batch.ts';
import type { DecisionResult } from '../approvals/decide-approval.ts';
import type { RelabelResult } from './relabel-approval.ts';

/** What came of one ticket activity (applyTicketActivity), for the webhook's and reconciliation's logs. */
export type ActivityResult =
  | { result: 'ignored'; reason: string }
  | { result: 'duplicate' }
  | { result: 'reopened' }
  | { result: 'attempted'; decision: DecisionResult }
  /** A decision on a batch ticket: each pending item through the decision engine. */
  | { result: 'batch'; decision: BatchDecisionResult }
  /** The `escalate` label: escalated now, or refused (label removed, comment). */
  | { result: 'escalated' | 'escalation-refused' }
  /** Any other label: the approval's rules re-resolved (relabel-approval.ts). */
  | { result: 'relabeled'; relabel: RelabelResult }
  /** The ticket's payload block was changed: kept as a reviewer's pending edit, or put back (with a comment saying why). */
  | { result: 'edit-recorded' | 'edit-refused'; reason?: string };
