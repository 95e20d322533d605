import { sql, type Insertable, type QueryCreator, type Transaction } from 'kysely';
import type { ApprovalRow, Database, DecisionVoteTable } from '../db/schema.ts';
import { keyIsLive } from '../keys/api-keys.ts';
import { notFound, unauthorized } from '../primitives/errors.ts';
import type { Person, ProjectMapping } from '../projects/mapping-schema.ts';
import { allPeopleJson } from '../projects/people-store.ts';
import { projectMappingOf } from '../projects/project-store.ts';

// The decision engine's reads and its vote (decide-approval.ts), each one round trip: a decision
// holds its approval's row lock, and every round trip under it is time the next attempt waits.

/**
 * Locks the approval for the attempt. With `liveKey`, the same statement confirms that API key
 * is unrevoked: a key revoked before the attempt is refused (401) with nothing written, at the
 * cost of no extra round trip.
 */
export async function lockApproval(trx: Transaction<Database>, approvalId: string, liveKey?: string): Promise<ApprovalRow> {
  const row = await trx
    .selectFrom('approvals')
    .selectAll()
    .select((liveKey === undefined ? sql<boolean>`true` : keyIsLive(liveKey)).as('key_live'))
    .where('id', '=', approvalId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) throw notFound(`no approval ${approvalId}`);
  const { key_live: keyLive, ...approval } = row;
  if (!keyLive) throw unauthorized('unknown or revoked API key');
  return approval;
}

/** A vote cast on the approval before this attempt (first vote first). */
export interface EarlierVote {
  reviewer: string;
  outcome: 'approve' | 'reject';
}

/** What an attempt is checked against, as the database holds it once the approval is locked. */
export interface DecisionContext {
  /** The approval's project mapping; undefined when the project is no longer mapped. */
  project: ProjectMapping | undefined;
  /** The people directory (people-store.ts's order). */
  people: Person[];
  votes: EarlierVote[];
}

/**
 * The approval's mapping (unless the caller has it already), the people directory and the votes
 * so far, in one statement. Run it after the row lock: a statement that waited for the lock
 * still reads the snapshot it started with, which would miss the vote it waited for.
 */
export async function readDecisionContext(trx: Transaction<Database>, approval: Pick<ApprovalRow, 'id' | 'project'>, known?: ProjectMapping): Promise<DecisionContext> {
  const { rows } = await sql<{ mapping: ProjectMapping | null; people: Person[]; votes: EarlierVote[] }>`
    select
      ${known ? sql`null` : projectMappingOf(approval.project)} as mapping,
      ${allPeopleJson} as people,
      coalesce((select json_agg(json_build_object('reviewer', reviewer, 'outcome', outcome) order by created_at, reviewer) from decision_votes where approval_id = ${approval.id}), '[]'::json) as votes`.execute(trx);
  const row = rows[0]!;
  return { project: known ?? row.mapping ?? undefined, people: row.people, votes: row.votes };
}

/**
 * A vote's insert. Cast only under the approval's row lock, after {@link readDecisionContext},
 * so the caller knows every earlier vote: a second vote by the same reviewer is refused before
 * this, and a conflict here would be a broken invariant (an error, the attempt rolled back).
 */
export const insertVote = (db: QueryCreator<Database>, vote: Insertable<DecisionVoteTable>) => db.insertInto('decision_votes').values(vote);

/** `db` with the vote's insert riding on its next statement. */
export const withVote = (db: QueryCreator<Database>, vote: Insertable<DecisionVoteTable>): QueryCreator<Database> =>
  // Widened back to the plain schema: the CTE only adds a table the statement has no use for.
  db.with('cast_vote', (q) => insertVote(q, vote)) as unknown as QueryCreator<Database>;
