import { sql, type Kysely, type Transaction } from 'kysely';
import { toJson } from '../db/json.ts';
import type { Database } from '../db/schema.ts';
import { appendAuditRecords } from './append-audit-record.ts';
import { assertHashableEntry, type AuditEntry } from './audit-record.ts';
import type { Signer } from './signing-key.ts';

/** One integrator at a time across instances (two int4s, apart from pg-boss's keys). */
const INTEGRATE_LOCK = sql`pg_try_advisory_xact_lock(1129534292, 3)`;

/**
 * Records a state change's audit entry in the caller's transaction: it commits or rolls back
 * with the change, takes no lock, and is chained moments later by `integratePendingAudit`.
 * Chaining each entry inside its own transaction instead would hold the chain's head lock
 * through every commit and serialize all intake on it (measured: 60 % of intake throughput).
 */
export async function queueAuditEntry(trx: Transaction<Database>, entry: AuditEntry, now: Date): Promise<void> {
  assertHashableEntry(entry);
  // No NOTIFY here: PostgreSQL serializes the commits of notifying transactions, which is
  // the very contention the queue removes. The appending process wakes its own integrator.
  await trx
    .insertInto('audit_pending')
    .values({ time: now, approval_id: entry.approvalId ?? null, event: entry.event, actor: toJson(entry.actor), data: toJson(entry.data ?? {}) })
    .execute();
}

/**
 * Chains up to `limit` committed queued entries, oldest first, into audit_records and removes
 * them from the queue, in one transaction: a crash leaves them queued, never half-chained.
 * Returns how many were chained, or -1 when another integrator holds the lock.
 */
export async function integratePendingAudit(db: Kysely<Database>, signer: Signer, limit = 500): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ locked: boolean }>`select ${INTEGRATE_LOCK} as locked`.execute(trx);
    if (!rows[0]?.locked) return -1;
    const pending = await trx.selectFrom('audit_pending').selectAll().orderBy('id').limit(limit).execute();
    if (pending.length === 0) return 0;
    await appendAuditRecords(
      trx,
      signer,
      pending.map((entry) => ({ entry: { event: entry.event as AuditEntry['event'], approvalId: entry.approval_id, actor: entry.actor, data: entry.data }, time: entry.time })),
    );
    await sql`select set_config('countersign.audit_integrate', 'on', true)`.execute(trx);
    await trx.deleteFrom('audit_pending').where('id', '<=', pending.at(-1)!.id).where('id', 'in', pending.map((p) => p.id)).execute();
    return pending.length;
  });
}
