import type { ApprovalRow } from '../db/schema.ts';

/** A person's (or policy's) yes or no, as a provider reported it. */
export interface DecisionAttempt {
  approvalId: string;
  /** The actor's identity in `namespace`: a GitHub login, a Jira accountId, a local login or person id, a Slack user id. */
  reviewer: string;
  /**
   * Where `reviewer` is an identity (`ActorIdentity.namespace`: `github`, `jira`, `local`,
   * `slack`, `email`, `person`); absent: the approval's provider, whose ticket the attempt came from.
   */
  namespace?: string;
  outcome: 'approve' | 'reject';
  reason?: string | null;
  /** Where the attempt came from, kept with the vote: `cli`, `api`, `github`, `jira`, `slack`, `inbox`. */
  via: string;
  /** Provider-specific note of the ticket change to undo if the attempt is refused (a label to remove, `reopen`). */
  revert?: string;
}

export type RefusalCode = 'not_a_reviewer' | 'self_approval' | 'already_voted';

/** An earlier vote left out of the count because of who decides now, and why. */
export interface NotCountedVote {
  reviewer: string;
  reason: string;
}

export type DecisionResult =
  | { result: 'decided'; approval: ApprovalRow; notCounted?: NotCountedVote[] }
  | { result: 'counted'; approval: ApprovalRow; approvals: number; required: number; notCounted: NotCountedVote[] }
  | { result: 'refused'; approval: ApprovalRow; code: RefusalCode; reason: string }
  | { result: 'late'; approval: ApprovalRow };
