import type { Transaction } from 'kysely';
import { toJson } from '../db/json.ts';
import type { ApprovalRow, Database } from '../db/schema.ts';
import { grantProblem } from '../grants/grant-policy.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import type { AppliedEdit, DecisionAttempt, RefusalCode } from './decision-attempt.ts';
import { checkPayloadEdit, payloadPatch, type PayloadEdit } from './payload-edit.ts';

type Edited = Extract<PayloadEdit, { kind: 'edited' }>;

/**
 * What an authorized attempt carries beyond yes or no, checked before anything is written: an
 * edited payload (approve with changes) and a standing grant, the grant judged on the payload
 * as it will be approved.
 */
export function checkEditAndGrant(project: ProjectMapping, approval: ApprovalRow, attempt: DecisionAttempt): { code: RefusalCode; reason: string; errors?: string[] } | { edit?: Edited } {
  const edit = attempt.edit ? checkPayloadEdit(project, approval, attempt.edit.payload, attempt.outcome) : undefined;
  if (edit?.kind === 'refused') return { code: 'edit_refused', reason: edit.reason, ...(edit.errors ? { errors: edit.errors } : {}) };
  const edited = edit?.kind === 'edited' ? edit : undefined;
  if (attempt.grant) {
    const problem = grantProblem(project, approval, edited ? edited.payload : approval.payload, attempt.grant, attempt.outcome);
    if (problem) return { code: 'grant_refused', reason: problem };
  }
  return edited ? { edit: edited } : {};
}

/**
 * Puts the edited payload on the approval and takes back the approvals given so far: in an
 * M-of-N every approver approves the same bytes, so those who approved the payload before the
 * edit must approve again.
 */
export async function applyPayloadEdit(trx: Transaction<Database>, approval: ApprovalRow, edit: Edited): Promise<{ current: ApprovalRow; edit: AppliedEdit }> {
  const current = await trx
    .updateTable('approvals')
    .set({ payload: toJson(edit.payload), payload_hash: edit.payloadHash, original_payload: toJson(edit.originalPayload), original_payload_hash: edit.originalPayloadHash })
    .where('id', '=', approval.id)
    .returningAll()
    .executeTakeFirstOrThrow();
  const reset = await trx.deleteFrom('decision_votes').where('approval_id', '=', approval.id).where('outcome', '=', 'approve').returning('reviewer').execute();
  return {
    current,
    edit: {
      originalPayloadHash: edit.originalPayloadHash,
      previousPayloadHash: approval.payload_hash,
      payloadHash: edit.payloadHash,
      patch: payloadPatch(edit.originalPayload, edit.payload),
      resetVotes: reset.map((vote) => vote.reviewer),
    },
  };
}
