import { ActivityAlreadyApplied, decideApproval, type DecisionDeps, type DecisionResult } from '../approvals/decide-approval.ts';
import { executorFor } from '../db/open-database.ts';
import type { Transaction } from 'kysely';
import type { BatchRow, Database, DecisionRecord } from '../db/schema.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import { conflict, notFound, unprocessable } from '../primitives/errors.ts';
import type { Services } from '../services.ts';
import { queueTicketUpdate } from '../approvals/queue-ticket-update.ts';
import { batchItems } from './batches.ts';

export interface BatchDecision {
  batchId: string;
  reviewer: string;
  /** Where `reviewer` is an identity, as `DecisionAttempt.namespace` (the web inbox: `person`); absent: the batch's provider. */
  namespace?: string;
  outcome: 'approve' | 'reject';
  reason?: string | null;
  via: string;
  /** Items the reviewer takes out before approving: each is rejected with its own reason. */
  exclude?: Array<{ approvalId: string; reason: string | null }>;
  revert?: string;
}

/**
 * The ticket activity a batch decision comes from, claimed in the transactions that apply it: each
 * item's part with that item's decision, the whole with the batch's closing (or refusal). A crash
 * part-way leaves the whole unclaimed, so a redelivery applies it again: the items already decided
 * find their part taken and are skipped, the rest are decided, and the batch is closed once.
 */
export interface BatchActivityClaims {
  item(trx: Transaction<Database>, approvalId: string): Promise<boolean>;
  /** False: the whole activity was applied before; nothing more is written. */
  batch(trx: Transaction<Database>): Promise<boolean>;
}

export interface BatchDecisionResult {
  batchId: string;
  items: Array<{ approvalId: string; result: DecisionResult['result']; status: string }>;
}

/**
 * A decision on a batch ticket is a decision on each pending item, through the one
 * decision engine: each item is authorized, decided, audited and called back on its own.
 * `context`: the batch row and project the caller already read (activity-target.ts).
 */
export async function decideBatch(services: DecisionDeps, decision: BatchDecision, context: { batch?: BatchRow; project?: ProjectMapping; claims?: BatchActivityClaims } = {}): Promise<BatchDecisionResult> {
  const { claims } = context;
  const batch = context.batch?.id === decision.batchId ? context.batch : await services.db.selectFrom('batches').selectAll().where('id', '=', decision.batchId).executeTakeFirst();
  if (!batch) throw notFound(`no batch ${decision.batchId}`);
  if (batch.status === 'open') throw conflict('batch_open', `batch ${decision.batchId} is still collecting requests; it is decided once its ticket is open`);
  const items = await batchItems(services, batch.id, 'pending');
  const excluded = new Map((decision.exclude ?? []).map((e) => [e.approvalId, e.reason]));
  const known = new Set((await batchItems(services, batch.id)).map((item) => item.id));
  const stranger = [...excluded.keys()].find((id) => !known.has(id));
  if (stranger) throw unprocessable('not_in_batch', `${stranger} is not in batch ${batch.id}`);

  const results: BatchDecisionResult['items'] = [];
  for (const item of items) {
    const isExcluded = excluded.has(item.id);
    const outcome = decision.outcome === 'reject' || isExcluded ? 'reject' : 'approve';
    const reason = isExcluded ? (excluded.get(item.id) ?? 'excluded from the batch approval') : (decision.reason ?? null);
    let result: DecisionResult;
    try {
      result = await decideApproval(
        services,
        { approvalId: item.id, reviewer: decision.reviewer, ...(decision.namespace ? { namespace: decision.namespace } : {}), outcome, reason, via: decision.via },
        { ...(context.project ? { project: context.project } : {}), ...(claims ? { claim: (trx: Transaction<Database>) => claims.item(trx, item.id) } : {}) },
      );
    } catch (error) {
      // Decided by an earlier run of this activity that stopped before the batch was closed.
      if (claims && error instanceof ActivityAlreadyApplied) continue;
      throw error;
    }
    results.push({ approvalId: item.id, result: result.result, status: result.approval.status });
  }

  const refused = results.find((r) => r.result === 'refused');
  const stillPending = (await batchItems(services, batch.id, 'pending')).length;
  await services.db.transaction().execute(async (trx) => {
    if (claims && !(await claims.batch(trx))) throw new ActivityAlreadyApplied();
    if (refused && results.every((r) => r.result === 'refused')) {
      await queueTicketUpdate(services, executorFor(trx), batch.provider, { approvalId: batch.id, update: 'refused', actor: decision.reviewer, reason: `${decision.reviewer} may not decide these requests`, ...(decision.revert ? { revert: decision.revert } : {}) });
    } else if (stillPending === 0) {
      await trx.updateTable('batches').set({ status: 'decided' }).where('id', '=', batch.id).execute();
      await queueTicketUpdate(services, executorFor(trx), batch.provider, { approvalId: batch.id, update: 'decided' });
    }
  });
  return { batchId: batch.id, items: results };
}

/** How a batch's items ended, for its ticket: one decision line and the counts. */
export async function batchOutcome(services: Pick<Services, 'db'>, batchId: string): Promise<{ decision: DecisionRecord; approved: number; decided: number } | undefined> {
  const items = await batchItems(services, batchId);
  const decided = items.filter((item) => item.decision !== null);
  if (decided.length === 0) return undefined;
  const approved = decided.filter((item) => item.status === 'approved');
  const rejected = decided.filter((item) => item.status === 'rejected');
  const by = [...new Set(decided.flatMap((item) => item.decision!.by))];
  const excludedLines = rejected.map((item) => `${item.id}: ${item.decision!.reason ?? 'rejected'}`);
  const decision: DecisionRecord = {
    outcome: approved.length > 0 ? 'approved' : 'rejected',
    by,
    at: new Date(Math.max(...decided.map((item) => item.decided_at!.getTime()))).toISOString(),
    reason: [`${approved.length} approved, ${rejected.length} rejected`, ...excludedLines].join('; '),
  };
  return { decision, approved: approved.length, decided: decided.length };
}
