import { sql, type Kysely, type QueryCreator, type Transaction } from 'kysely';
import { toJson } from '../db/json.ts';
import type { Database } from '../db/schema.ts';
import { chainEntries } from './append-audit-record.ts';
import { assertHashableEntry, type AuditActor, type AuditEntry } from './audit-record.ts';
import type { Signer } from '../primitives/signing-key.ts';

/** One integrator at a time across instances (two int4s, apart from pg-boss's keys). */
const INTEGRATE_LOCK = sql`pg_try_advisory_xact_lock(1129534292, 3)`;

/**
 * Records a state change's audit entry in the caller's transaction: it commits or rolls back
 * with the change, takes no lock, and is chained moments later by `integratePendingAudit`.
 * Chaining each entry inside its own transaction instead would hold the chain's head lock
 * through every commit and serialize all intake on it (measured: 60 % of intake throughput).
 */
export async function queueAuditEntry(trx: Transaction<Database>, entry: AuditEntry, now: Date): Promise<void> {
  // No NOTIFY here: PostgreSQL serializes the commits of notifying transactions, which is
  // the very contention the queue removes. The appending process wakes its own integrator.
  await trx.insertInto('audit_pending').values(pendingRow(entry, now)).execute();
}

/**
 * Runs the one statement `write` makes with `db`, with the entry queued by that same statement
 * (a data-modifying CTE): one round trip for the change and its entry, for the hot path (intake).
 * `trx` may be the database itself: the statement alone commits both or neither.
 */
export async function queueAuditEntryWith<R>(trx: Kysely<Database>, entry: AuditEntry, now: Date, write: (db: QueryCreator<Database>) => Promise<R>): Promise<R> {
  const queued = trx.with('queued_audit_entry', (db) => db.insertInto('audit_pending').values(pendingRow(entry, now)).returning('id'));
  // Widened back to the plain schema: the CTE only adds a table `write` has no use for.
  return write(queued as unknown as QueryCreator<Database>);
}

function pendingRow(entry: AuditEntry, now: Date) {
  assertHashableEntry(entry);
  return { time: now, approval_id: entry.approvalId ?? null, event: entry.event, actor: toJson(entry.actor), data: toJson(entry.data ?? {}) };
}

/** How many queued entries one integration transaction chains at most. */
export const INTEGRATE_BATCH = 500;

/**
 * Chains up to `limit` committed queued entries, oldest first, into audit_records and removes
 * them from the queue, in one transaction: a crash leaves them queued, never half-chained.
 * Four round trips however many entries (BEGIN, read, write, COMMIT): under load the
 * integrator runs dozens of times a second in the same process as intake.
 * Returns how many were chained, or -1 when another integrator holds the lock.
 */
export async function integratePendingAudit(db: Kysely<Database>, signer: Signer, limit = INTEGRATE_BATCH): Promise<number> {
  return db.transaction().execute(async (trx) => {
    // The integrator lock, then the head under its row lock (appendNow moves it too), and
    // the queued entries.
    const { rows } = await sql<PendingRow>`
      with lock as (select ${INTEGRATE_LOCK} as locked),
      head as (
        select audit_head.seq, audit_head.hash
        from audit_head, lock where lock.locked for update of audit_head
      )
      select head.seq as head_seq, head.hash as head_hash, pending.id, pending.time, pending.approval_id, pending.event, pending.actor, pending.data
      from head left join lateral (select * from audit_pending order by id limit ${limit}) pending on true`.execute(trx);
    const first = rows[0];
    if (!first) return -1;
    if (first.id === null) return 0;
    const records = await chainEntries(
      { seq: Number(first.head_seq), hash: first.head_hash },
      rows.map((row) => ({ entry: { event: row.event as AuditEntry['event'], approvalId: row.approval_id, actor: row.actor!, data: row.data! }, time: row.time! })),
      signer,
    );
    const last = records.at(-1)!;
    // The entries move from the queue into the chain inside the database: only the chain's
    // fields travel back, and what was hashed is what the queue holds. The queue's guard
    // (migration 0009) lets the delete pass only because, in this same statement, each
    // deleted entry becomes one of the chain's newest records, naming it in pending_id.
    const chain = { id: rows.map((row) => row.id), seq: records.map((r) => r.seq), prevHash: records.map((r) => r.prevHash), hash: records.map((r) => r.hash), signature: records.map((r) => r.signature) };
    const { rows: moved } = await sql<{ count: string | number }>`
      with moved_head as (update audit_head set seq = ${last.seq}, hash = ${last.hash} where id),
      moved as (delete from audit_pending where id = any(${chain.id}::bigint[]) returning *),
      chained as (
        insert into audit_records (seq, time, approval_id, event, actor, data, prev_hash, hash, signature, key_id, pending_id)
        select link.seq, moved.time, moved.approval_id, moved.event, moved.actor, moved.data, link.prev_hash, link.hash, link.signature, ${signer.keyId}, moved.id
        from unnest(${chain.id}::bigint[], ${chain.seq}::bigint[], ${chain.prevHash}::text[], ${chain.hash}::text[], ${chain.signature}::text[]) as link(id, seq, prev_hash, hash, signature)
        join moved on moved.id = link.id
        returning 1
      )
      select count(*) from chained`.execute(trx);
    // Only the integrator lock's holder deletes queued rows: any other count is a bug, and rolls back.
    if (Number(moved[0]?.count) !== records.length) throw new Error(`audit integration moved ${moved[0]?.count} of ${records.length} queued entries; rolled back`);
    return records.length;
  });
}

/** One row of the integrator's read: the head, and a queued entry (all null when none is queued). */
interface PendingRow {
  head_seq: string | number;
  head_hash: string;
  id: string | null;
  time: Date | null;
  approval_id: string | null;
  event: string | null;
  actor: AuditActor | null;
  data: Record<string, unknown> | null;
}
