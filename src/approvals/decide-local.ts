import { z } from 'zod';
import { safeText } from '../primitives/safe-text.ts';
import { CountersignError, conflict, notFound } from '../primitives/errors.ts';
import type { Services } from '../services.ts';
import { decideApproval, type DecisionResult } from './decide-approval.ts';

export const localDecisionSchema = z.strictObject({
  outcome: z.enum(['approve', 'reject']),
  reason: safeText({ max: 2000, multiLine: true }).optional(),
});

/**
 * A decision on the `local` provider, from the CLI or the review API. Refusals and late
 * attempts become errors here; the engine itself has already recorded them.
 */
export async function decideLocal(
  services: Services,
  input: { approvalId: string; reviewer: string; outcome: 'approve' | 'reject'; reason?: string | undefined; via: 'cli' | 'api'; project?: string | null },
): Promise<Exclude<DecisionResult, { result: 'refused' | 'late' }>> {
  const approval = await services.db.selectFrom('approvals').select(['provider', 'project']).where('id', '=', input.approvalId).executeTakeFirst();
  if (!approval || (input.project && input.project !== approval.project)) throw notFound(`no approval ${input.approvalId}`);
  if (approval.provider !== 'local') {
    throw conflict('wrong_provider', `approval ${input.approvalId} is decided on its ${approval.provider} ticket, not here`);
  }
  const result = await decideApproval(services, { approvalId: input.approvalId, reviewer: input.reviewer, outcome: input.outcome, reason: input.reason ?? null, via: input.via });
  if (result.result === 'refused') {
    // A second vote by the same reviewer conflicts with the state; the others are not theirs to cast.
    throw result.code === 'already_voted' ? conflict('already_voted', result.reason) : new CountersignError(403, result.code, result.reason);
  }
  if (result.result === 'late') throw conflict('already_decided', `approval ${input.approvalId} is already ${result.approval.status}`);
  return result;
}
