import { z } from 'zod';
import { isApprovalId } from '../primitives/ids.ts';
import { safeText } from '../primitives/safe-text.ts';
import { CountersignError, conflict, notFound } from '../primitives/errors.ts';
import type { Services } from '../services.ts';
import { decideBatch, type BatchDecisionResult } from './decide-batch.ts';

export const localBatchDecisionSchema = z.strictObject({
  outcome: z.enum(['approve', 'reject']),
  reason: safeText({ max: 2000, multiLine: true }).optional(),
  exclude: z
    .array(z.strictObject({ id: z.string().refine(isApprovalId, 'expected an approval id (apr_…)'), reason: safeText({ max: 2000, multiLine: true }).optional() }))
    .max(100)
    .default([]),
});

/** A batch decision on the `local` provider, from the CLI or the review API. */
export async function decideLocalBatch(
  services: Services,
  input: { batchId: string; reviewer: string; outcome: 'approve' | 'reject'; reason?: string | undefined; exclude: Array<{ id: string; reason?: string | undefined }>; via: 'cli' | 'api'; project?: string | null },
): Promise<BatchDecisionResult> {
  const batch = await services.db.selectFrom('batches').select(['provider', 'project']).where('id', '=', input.batchId).executeTakeFirst();
  if (!batch || (input.project && input.project !== batch.project)) throw notFound(`no batch ${input.batchId}`);
  if (batch.provider !== 'local') throw conflict('wrong_provider', `batch ${input.batchId} is decided on its ${batch.provider} ticket, not here`);
  const result = await decideBatch(services, {
    batchId: input.batchId,
    reviewer: input.reviewer,
    outcome: input.outcome,
    reason: input.reason ?? null,
    via: input.via,
    exclude: input.exclude.map((e) => ({ approvalId: e.id, reason: e.reason ?? null })),
  });
  if (result.items.length > 0 && result.items.every((item) => item.result === 'refused')) {
    throw new CountersignError(403, 'not_a_reviewer', `${input.reviewer} may not decide the requests in ${input.batchId}`);
  }
  return result;
}
