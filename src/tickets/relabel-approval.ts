import { isDeepStrictEqual } from 'node:util';
import type { AuditActor } from '../audit/audit-record.ts';
import { toJson } from '../db/json.ts';
import type { Transaction } from 'kysely';
import type { ApprovalRow, Database } from '../db/schema.ts';
import { scheduleEscalation } from '../escalation/escalation.ts';
import { findProject } from '../projects/project-store.ts';
import { resolvePolicy, storedPolicy } from '../rules/resolve-policy.ts';
import type { ProviderAdapter } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';
import { ActivityAlreadyApplied, afterDecisionCommitted, countedApprovals, finalize, findReviewer } from '../approvals/decide-approval.ts';
import { ESCALATE_LABEL } from '../tickets/escalate-label.ts';

export interface RelabelRequest {
  approvalId: string;
  /** The label a person added on the ticket. */
  label: string;
  /** Who added it (`reviewer`, their provider identity, `via` the provider). */
  actor: AuditActor;
  /** Claims the ticket activity the label came from, with the row lock held: as `decideApproval`'s `KnownContext.claim`. */
  claim?: (trx: Transaction<Database>) => Promise<boolean>;
}

export type RelabelResult =
  | { result: 'relabeled'; approval: ApprovalRow; requiredApprovals: { from: number; to: number }; rescheduled: boolean }
  /** The quorum the new rules ask for is already met by the votes counted: approved. */
  | { result: 'decided'; approval: ApprovalRow }
  | { result: 'unchanged'; reason: string }
  /** The person is not a reviewer of the project: their label does not steer the rules. */
  | { result: 'refused'; reason: string };

/** The mapping's decision labels and `escalate` are commands, and the provider's own labels (`escalated:N`) its bookkeeping: never rule inputs. */
const isCommandLabel = (label: string, labels: { approved: string; rejected: string; pending: string }, provider: Pick<ProviderAdapter, 'ownsLabel'>) =>
  label === labels.approved || label === labels.rejected || label === labels.pending || label === ESCALATE_LABEL || (provider.ownsLabel?.(label) ?? false);

/**
 * A label a reviewer added on a pending approval's ticket joins the approval's labels and the
 * project's rules are evaluated again (issue 7: rules match on labels "added on the ticket by a
 * person"). In one transaction, with the row locked against a racing decision or timer:
 *
 * - `required_approvals` takes the new rules' value, but never drops below the approvals already
 *   counted; if those already meet the new quorum, the approval is decided (approved by them).
 * - If the escalation tiers changed, the next tier's timer is queued from the current tier
 *   (each `after` still counts from the request). A timer queued under the old tiers that fires
 *   before its new time is recognized as stale by the escalation timer and does nothing.
 * - Batching and auto-approval are intake-time routes and are kept as they were.
 * - Audited as `approval.relabeled` with the rules that matched and what changed.
 *
 * Only reviewers steer the rules: a label that lowered the quorum would otherwise be a way
 * around it for anyone allowed to label issues.
 *
 * @example
 * await relabelApproval(services, { approvalId, label: 'urgent', actor: { kind: 'reviewer', id: 'alice', via: 'github' } });
 */
export async function relabelApproval(services: Services, request: RelabelRequest): Promise<RelabelResult> {
  let decided: ApprovalRow | undefined;
  const result = await services.db.transaction().execute(async (trx): Promise<RelabelResult> => {
    const approval = await trx.selectFrom('approvals').selectAll().where('id', '=', request.approvalId).forUpdate().executeTakeFirst();
    if (request.claim && !(await request.claim(trx))) throw new ActivityAlreadyApplied();
    if (!approval || approval.status !== 'pending') return { result: 'unchanged', reason: `approval ${request.approvalId} is not pending` };
    if (approval.labels.includes(request.label)) return { result: 'unchanged', reason: `approval ${approval.id} already has label ${request.label}` };
    const project = await findProject(trx, approval.project);
    if (!project) return { result: 'unchanged', reason: `project ${approval.project} is no longer mapped` };
    if (isCommandLabel(request.label, project.labels, services.providers.get(approval.provider))) return { result: 'unchanged', reason: `${request.label} is not a rule label` };
    const people = await services.people.load(trx);
    if (!findReviewer(people, project, approval, { namespace: approval.provider, id: request.actor.id })) {
      return { result: 'refused', reason: `${request.actor.id} is not a reviewer of project ${project.key}; their labels do not change its rules` };
    }

    const labels = [...approval.labels, request.label];
    const policy = resolvePolicy(project, { risk: approval.risk, action: approval.action, labels });
    const { counted: approvers, notCounted } = await countedApprovals(trx, people, project, approval);
    const required = Math.max(policy.requiredApprovals, approvers.length);
    const previousTiers = approval.policy?.escalation ?? [];
    const rescheduled = !isDeepStrictEqual(previousTiers, policy.escalation);
    const refused = [...policy.refused, ...(policy.autoApprove ? [`${policy.sources.autoApprove}: autoApprove applies at intake only`] : [])];
    const stored = { ...storedPolicy(policy), batching: approval.policy?.batching ?? false, autoApprove: approval.policy?.autoApprove ?? false };

    const updated = await trx
      .updateTable('approvals')
      .set({ labels: toJson(labels), required_approvals: required, policy: toJson(stored) })
      .where('id', '=', approval.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    if (rescheduled) await scheduleEscalation(services, trx, updated, updated.escalation_tier + 1);
    await services.audit.append(trx, {
      event: 'approval.relabeled',
      approvalId: approval.id,
      actor: request.actor,
      data: {
        label: request.label,
        labels,
        matchedRules: policy.matchedRules,
        requiredApprovals: { from: approval.required_approvals, to: required },
        escalation: policy.escalation,
        rescheduled,
        refused,
      },
    });

    if (approvers.length > 0 && approvers.length >= required) {
      const by = approvers;
      const reason = `${by.length} of ${required} approvals after label ${request.label} changed the rules`;
      decided = await finalize(services, trx, updated, { outcome: 'approved', by, reason });
      await services.audit.append(trx, { event: 'approval.decided', approvalId: approval.id, actor: request.actor, data: { outcome: 'approved', by, reason, ...(notCounted.length > 0 ? { notCounted } : {}) } });
      return { result: 'decided', approval: decided };
    }
    return { result: 'relabeled', approval: updated, requiredApprovals: { from: approval.required_approvals, to: required }, rescheduled };
  });
  if (decided) afterDecisionCommitted(services, decided);
  return result;
}
