import { queueTicketUpdate } from './queue-ticket-update.ts';
import { sql, type Transaction } from 'kysely';
import { decisionAuditEntry } from './decision-audit-entry.ts';
import { executorFor } from '../db/open-database.ts';
import { toJson } from '../db/json.ts';
import type { ApprovalRow, Database, DecisionRecord } from '../db/schema.ts';
import { notFound } from '../primitives/errors.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import { findProject } from '../projects/project-store.ts';
import { findIdentity, sameIdentity, type IdentityRules } from '../providers/identity-key.ts';
import type { Services } from '../services.ts';
import { APPROVAL_CHANNEL } from '../db/approval-events.ts';
import type { DecisionAttempt, DecisionResult, NotCountedVote, RefusalCode } from './decision-attempt.ts';

export type { DecisionAttempt, DecisionResult, NotCountedVote, RefusalCode } from './decision-attempt.ts';

/**
 * The one decision engine. The approval row is locked for the whole attempt, so two
 * attempts racing (two webhooks, two instances) are applied one after the other: the
 * first to decide wins and the other finds a terminal state and is recorded as late.
 */
export async function decideApproval(services: Services, attempt: DecisionAttempt): Promise<DecisionResult> {
  const result = await services.db.transaction().execute(async (trx) => {
    // Every attempt, whatever its outcome, is audited as the transaction's last statement.
    const audited = async <R extends DecisionResult>(outcome: R): Promise<R> => {
      await services.audit.append(trx, decisionAuditEntry(attempt, outcome));
      return outcome;
    };
    const approval = await trx.selectFrom('approvals').selectAll().where('id', '=', attempt.approvalId).forUpdate().executeTakeFirst();
    if (!approval) throw notFound(`no approval ${attempt.approvalId}`);
    if (approval.status !== 'pending') return audited({ result: 'late', approval } as const);

    const project = await findProject(trx, approval.project);
    const rules = services.providers.identities(approval.provider);
    const check = project ? checkReviewer(project, approval, attempt.reviewer, rules) : { code: 'not_a_reviewer' as const, reason: `project ${approval.project} is no longer mapped` };
    if ('code' in check) {
      await queueTicketUpdate(services, executorFor(trx), approval.provider, { approvalId: approval.id, update: 'refused', actor: attempt.reviewer, reason: check.reason, ...(attempt.revert ? { revert: attempt.revert } : {}) });
      return audited({ result: 'refused', approval, ...check } as const);
    }
    // Votes are kept under the mapping's spelling, so `Alice` and `alice` are one reviewer
    // (also when the mapping's spelling changed since an earlier vote).
    const reviewer = check.reviewer;
    const earlier = await trx.selectFrom('decision_votes').select('reviewer').where('approval_id', '=', approval.id).execute();
    const vote = earlier.some((v) => sameIdentity(v.reviewer, reviewer, rules))
      ? undefined
      : await trx
          .insertInto('decision_votes')
          .values({ approval_id: approval.id, reviewer, outcome: attempt.outcome, reason: attempt.reason ?? null, via: attempt.via })
          .onConflict((oc) => oc.doNothing())
          .returning('reviewer')
          .executeTakeFirst();
    if (!vote) {
      return audited({ result: 'refused', approval, code: 'already_voted', reason: `${reviewer} has already voted on this approval; ${approval.required_approvals} distinct reviewers are needed` } as const);
    }

    if (attempt.outcome === 'reject') {
      return audited({ result: 'decided', approval: await finalize(services, trx, approval, { outcome: 'rejected', by: [reviewer], reason: attempt.reason ?? null }) } as const);
    }
    const { counted, notCounted } = await countedApprovals(trx, project!, approval, rules);
    if (counted.length < approval.required_approvals) {
      return audited({ result: 'counted', approval, approvals: counted.length, required: approval.required_approvals, notCounted } as const);
    }
    return audited({ result: 'decided', approval: await finalize(services, trx, approval, { outcome: 'approved', by: counted, reason: attempt.reason ?? null }), notCounted } as const);
  });

  if (result.result === 'decided') afterDecisionCommitted(services, result.approval);
  return result;
}

/**
 * The approvals that count now, first vote first (the `by` of an approval), against the
 * mapping as it is at this moment: a vote by someone who is no longer a reviewer of the
 * approval (removed from the mapping since they voted) is left out, with why, so the audit
 * record of the decision says which votes it did not count.
 */
export async function countedApprovals(
  trx: Transaction<Database>,
  project: ProjectMapping,
  approval: Pick<ApprovalRow, 'id' | 'escalation_tier' | 'policy'>,
  rules: IdentityRules,
): Promise<{ counted: string[]; notCounted: NotCountedVote[] }> {
  const votes = await trx.selectFrom('decision_votes').select('reviewer').where('approval_id', '=', approval.id).where('outcome', '=', 'approve').orderBy('created_at').orderBy('reviewer').execute();
  const reviewers = [...authorizedReviewers(project, approval)];
  const counted: string[] = [];
  const notCounted: NotCountedVote[] = [];
  for (const { reviewer } of votes) {
    if (reviewers.some((current) => sameIdentity(current, reviewer, rules))) counted.push(reviewer);
    else notCounted.push({ reviewer, reason: `${reviewer} is no longer a reviewer of project ${project.key}; their earlier approval no longer counts` });
  }
  return { counted, notCounted };
}

/** Once a decision has committed: record its queue time and call the agent back without waiting for a queue poll. */
export function afterDecisionCommitted(services: Services, approval: ApprovalRow): void {
  services.metrics.observeDecision(approval);
  if (approval.callback_url) services.callbacks.deliverSoon(approval.id);
}

/**
 * Who may decide: the mapping's reviewers and those of every escalation tier the approval
 * has reached (tiers as its rules resolved them at intake), never the requester.
 */
export function authorizedReviewers(project: ProjectMapping, approval: Pick<ApprovalRow, 'escalation_tier' | 'policy'>): Set<string> {
  const reviewers = new Set(project.reviewers);
  const tiers = approval.policy?.escalation ?? project.escalation ?? [];
  for (const tier of tiers.slice(0, approval.escalation_tier)) for (const login of tier.reviewers ?? []) reviewers.add(login);
  return reviewers;
}

/**
 * Authorizes a decision attempt. Identities compare under the provider's rules
 * (identity-key.ts: NFKC, trimmed, case-folded for GitHub logins), so a request made as
 * `Alice` or `ａｌｉｃｅ` cannot be approved by `alice`; an authorized attempt is answered
 * with the mapping's own spelling of the reviewer.
 */
function checkReviewer(project: ProjectMapping, approval: ApprovalRow, actor: string, rules: IdentityRules): { code: RefusalCode; reason: string } | { reviewer: string } {
  const reviewer = findIdentity(actor, authorizedReviewers(project, approval), rules);
  if (reviewer === undefined) {
    return { code: 'not_a_reviewer', reason: `${actor} is not a reviewer of project ${project.key}` };
  }
  // The requester may have been written in any spelling by the agent: folding more together only refuses more.
  if (approval.requested_by !== null && (sameIdentity(approval.requested_by, actor, rules) || sameIdentity(approval.requested_by, reviewer, rules))) {
    return { code: 'self_approval', reason: `${actor} requested this approval and cannot decide it` };
  }
  return { reviewer };
}

/**
 * Moves a pending approval to its terminal state, queues the ticket update and the
 * callback, and wakes long polls. Call `afterDecisionCommitted` once the transaction commits.
 */
export async function finalize(services: Services, trx: Transaction<Database>, approval: ApprovalRow, decision: Omit<DecisionRecord, 'at'>): Promise<ApprovalRow> {
  const at = services.now();
  const record: DecisionRecord = { ...decision, at: at.toISOString() };
  const updated = await trx
    .updateTable('approvals')
    .set({ status: decision.outcome, decided_at: at, decision: toJson(record) })
    .where('id', '=', approval.id)
    .where('status', '=', 'pending')
    .returningAll()
    .executeTakeFirstOrThrow();
  await queueTicketUpdate(services, executorFor(trx), approval.provider, { approvalId: approval.id, update: 'decided' });
  await services.callbacks.schedule(trx, updated);
  await notifyApprovalChanged(trx, approval.id);
  return updated;
}

/** Delivered at commit, to every instance listening on the same database. */
export async function notifyApprovalChanged(trx: Transaction<Database>, approvalId: string): Promise<void> {
  await sql`select pg_notify(${APPROVAL_CHANNEL}, ${approvalId})`.execute(trx);
}
