import { z } from 'zod';
import { safeText } from '../primitives/safe-text.ts';
import { CountersignError, conflict, notFound, unprocessable } from '../primitives/errors.ts';
import { jsonValueSchema } from '../primitives/json-value-problem.ts';
import { grantRequestSchema, type GrantRequest } from '../contract/grant-schema.ts';
import type { ApprovalRow } from '../db/schema.ts';
import type { Services } from '../services.ts';
import { decideApproval, type DecisionResult } from './decide-approval.ts';

export const localDecisionSchema = z.strictObject({
  outcome: z.enum(['approve', 'reject']),
  reason: safeText({ max: 2000, multiLine: true }).optional(),
  /** Approve with changes: the payload to approve instead of the agent's (the project needs `allowEdits`). */
  payload: jsonValueSchema().optional(),
  /** And allow the same for N hours (the project needs `grants`). */
  grant: grantRequestSchema.optional(),
});

/**
 * A decision on the `local` provider, from the CLI or the review API. Refusals and late
 * attempts become errors here; the engine itself has already recorded them.
 */
export async function decideLocal(
  services: Services,
  input: {
    approvalId: string;
    reviewer: string;
    outcome: 'approve' | 'reject';
    reason?: string | undefined;
    via: 'cli' | 'api';
    project?: string | null;
    payload?: unknown;
    grant?: GrantRequest | undefined;
    /** The API key deciding, read from a cache: confirmed unrevoked by the decision's own lock (KnownContext.liveKey). */
    liveKey?: string;
  },
): Promise<Exclude<DecisionResult, { result: 'refused' | 'late' }>> {
  // Checked on the locked row (decideApproval's first statement), not read before it.
  const accept = (approval: ApprovalRow) => {
    if (input.project && input.project !== approval.project) throw notFound(`no approval ${input.approvalId}`);
    if (!services.providers.capabilities(approval.provider).decidesInCountersign) {
      throw conflict('wrong_provider', `approval ${input.approvalId} is decided on its ${approval.provider} ticket, not here`);
    }
  };
  const result = await decideApproval(
    services,
    {
      approvalId: input.approvalId,
      reviewer: input.reviewer,
      outcome: input.outcome,
      reason: input.reason ?? null,
      via: input.via,
      ...(input.payload !== undefined ? { edit: { payload: input.payload } } : {}),
      ...(input.grant ? { grant: input.grant } : {}),
    },
    { accept, ...(input.liveKey !== undefined ? { liveKey: input.liveKey } : {}) },
  );
  if (result.result === 'refused') {
    // A second vote by the same reviewer conflicts with the state; an edit or grant the project
    // does not allow is a problem with the request; the others are not theirs to cast.
    if (result.code === 'already_voted') throw conflict('already_voted', result.reason);
    if (result.code === 'edit_refused' || result.code === 'grant_refused') throw unprocessable(result.code, result.reason);
    throw new CountersignError(403, result.code, result.reason);
  }
  if (result.result === 'late') throw conflict('already_decided', `approval ${input.approvalId} is already ${result.approval.status}`);
  return result;
}
