import type { Kysely } from 'kysely';
import type { ApprovalRow, Database, DecisionVoteTable } from '../db/schema.ts';
import { notFound } from '../primitives/errors.ts';
import { isApprovalId } from '../primitives/ids.ts';

export type Vote = Pick<DecisionVoteTable, 'reviewer' | 'outcome' | 'reason' | 'via'> & { at: Date };

/** Everything an operator or a `local` reviewer needs to decide: the row with its payload and details, and the votes counted so far. */
export interface ApprovalDetail {
  approval: ApprovalRow;
  votes: Vote[];
}

/** The operator's read (the CLI runs with the database's own rights): no key, no project restriction. */
export async function readApprovalDetail(db: Kysely<Database>, approvalId: string): Promise<ApprovalDetail> {
  if (!isApprovalId(approvalId)) throw notFound(`no approval ${approvalId}`);
  const approval = await db.selectFrom('approvals').selectAll().where('id', '=', approvalId).executeTakeFirst();
  if (!approval) throw notFound(`no approval ${approvalId}`);
  const votes = await db
    .selectFrom('decision_votes')
    .select(['reviewer', 'outcome', 'reason', 'via', 'created_at as at'])
    .where('approval_id', '=', approvalId)
    .orderBy('created_at')
    .execute();
  return { approval, votes };
}
