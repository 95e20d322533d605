import { sql, type Expression, type Insertable, type QueryCreator, type Transaction } from 'kysely';
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
  return approvalLocked(
    await trx
      .selectFrom('approvals')
      .selectAll()
      .select(keyLive(liveKey))
      .where('id', '=', approvalId)
      .forUpdate()
      .executeTakeFirst(),
    approvalId,
  );
}

const keyLive = (liveKey: string | undefined) => (liveKey === undefined ? sql<boolean>`true` : keyIsLive(liveKey)).as('key_live');

function approvalLocked<R extends ApprovalRow & { key_live: boolean }>(row: R | undefined, approvalId: string): Omit<R, 'key_live'> {
  if (!row) throw notFound(`no approval ${approvalId}`);
  const { key_live: live, ...approval } = row;
  if (!live) throw unauthorized('unknown or revoked API key');
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

/** The context's columns, for the approval whose id and project `approvalId` and `project` give (values or column references). */
const contextColumns = (approvalId: string | Expression<string>, project: string | Expression<string>, known: ProjectMapping | undefined) =>
  [
    (known ? sql<ProjectMapping | null>`null` : projectMappingOf(project)).as('context_mapping'),
    allPeopleJson.as('context_people'),
    sql<EarlierVote[]>`coalesce((select json_agg(json_build_object('reviewer', reviewer, 'outcome', outcome) order by created_at, reviewer) from decision_votes where approval_id = ${approvalId}), '[]'::json)`.as('context_votes'),
  ] as const;

type ContextColumns = { context_mapping: ProjectMapping | null; context_people: Person[]; context_votes: EarlierVote[] };

const contextOf = ({ context_mapping, context_people, context_votes }: ContextColumns, known: ProjectMapping | undefined): DecisionContext => ({
  project: known ?? context_mapping ?? undefined,
  people: context_people,
  votes: context_votes,
});

/**
 * The approval's mapping (unless the caller has it already), the people directory and the votes
 * so far, in one statement. Run it after the row lock: a statement that waited for the lock
 * still reads the snapshot it started with, which would miss the vote it waited for.
 */
export async function readDecisionContext(trx: Transaction<Database>, approval: Pick<ApprovalRow, 'id' | 'project'>, known?: ProjectMapping): Promise<DecisionContext> {
  const row = await trx.selectNoFrom(contextColumns(approval.id, approval.project, known)).executeTakeFirstOrThrow();
  return contextOf(row, known);
}

/**
 * `lockApproval` and `readDecisionContext` as one statement, for a database whose transactions
 * run one at a time (PGlite, one connection): there the lock never waits, nothing commits
 * between the statement's snapshot and its lock, and the context it reads is the one the lock
 * guards. Anywhere else a waiting lock would hand back votes from before the one it waited for.
 */
export async function lockApprovalWithContext(trx: Transaction<Database>, approvalId: string, liveKey: string | undefined, known: ProjectMapping | undefined): Promise<{ approval: ApprovalRow; context: DecisionContext }> {
  const row = await trx
    .selectFrom('approvals')
    .selectAll()
    // The mapping is read even when the caller knows one: whether it is this approval's project shows only once the row is read.
    .select([keyLive(liveKey), ...contextColumns(sql.ref('approvals.id'), sql.ref('approvals.project'), undefined)])
    .where('id', '=', approvalId)
    .forUpdate()
    .executeTakeFirst();
  const { context_mapping, context_people, context_votes, ...approval } = approvalLocked(row, approvalId);
  return { approval, context: contextOf({ context_mapping, context_people, context_votes }, known?.key === approval.project ? known : undefined) };
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
