import type { GrantRequest } from '../contract/grant-schema.ts';
import type { ApprovalRow, JsonPatchOperation } from '../db/schema.ts';

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
  /** Approve with changes: the payload as the reviewer edited it (the project needs `allowEdits`). */
  edit?: { payload: unknown };
  /** "And allow the same for N hours" (the project needs `grants`). */
  grant?: GrantRequest;
}

export type RefusalCode = 'not_a_reviewer' | 'self_approval' | 'already_voted' | 'edit_refused' | 'grant_refused';

/** An edit a vote applied: the payload changed from one hash to the other, and these earlier approvals no longer count. */
export interface AppliedEdit {
  originalPayloadHash: string;
  previousPayloadHash: string;
  payloadHash: string;
  patch: JsonPatchOperation[];
  resetVotes: string[];
}

/** An earlier vote left out of the count because of who decides now, and why. */
export interface NotCountedVote {
  reviewer: string;
  reason: string;
}

export type DecisionResult =
  | { result: 'decided'; approval: ApprovalRow; notCounted?: NotCountedVote[]; edit?: AppliedEdit }
  | { result: 'counted'; approval: ApprovalRow; approvals: number; required: number; notCounted: NotCountedVote[]; edit?: AppliedEdit }
  /** `errors`: an edit's schema errors, one per line, for the reviewer to fix. */
  | { result: 'refused'; approval: ApprovalRow; code: RefusalCode; reason: string; errors?: string[] }
  | { result: 'late'; approval: ApprovalRow };
