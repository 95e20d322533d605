import type { Kysely, QueryCreator } from 'kysely';
import type { AuditLog } from '../audit/audit-log.ts';
import type { CallbackDeliveryRow, CallbackStatus, Database } from '../db/schema.ts';

/** What one attempt came to, and what follows from it. */
export interface AttemptOutcome {
  status: CallbackStatus;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  /** When the retry is due ('pending' only): the sweep sends it then. */
  nextAttemptAt: Date | null;
}

/**
 * Records an attempt on the delivery (and lets go of its claim). A retry is the row's
 * `next_attempt_at`, which the sweep honours, so it is one UPDATE and nothing else. The end of
 * a delivery (delivered, dead) is audited with it, by that same statement: on PostgreSQL, where
 * entries are queued, with no transaction (one round trip); inline (PGlite), in a transaction
 * of its own, the statement that chains the record also making the update.
 */
export async function recordAttempt(db: Kysely<Database>, audit: Pick<AuditLog, 'appendWith' | 'appendWithAlone'>, row: Pick<CallbackDeliveryRow, 'approval_id' | 'webhook_id' | 'url'>, outcome: AttemptOutcome): Promise<CallbackDeliveryRow> {
  const now = new Date();
  const update = (q: QueryCreator<Database>) =>
    q
      .updateTable('callback_deliveries')
      .set({
        status: outcome.status,
        attempts: outcome.attempts,
        claimed_until: null,
        last_attempt_at: now,
        last_status: outcome.lastStatus,
        last_error: outcome.lastError,
        next_attempt_at: outcome.nextAttemptAt,
        ...(outcome.status === 'delivered' ? { delivered_at: now } : {}),
      })
      .where('approval_id', '=', row.approval_id)
      .returningAll()
      .executeTakeFirstOrThrow();
  if (outcome.status === 'pending') return update(db);
  const entry = {
    event: outcome.status === 'delivered' ? 'callback.delivered' : 'callback.dead',
    approvalId: row.approval_id,
    actor: { kind: 'system', id: 'callbacks', via: 'http' },
    data: { webhookId: row.webhook_id, host: new URL(row.url).host, attempts: outcome.attempts, lastStatus: outcome.lastStatus, lastError: outcome.lastError },
  } as const;
  if (audit.appendWithAlone) return audit.appendWithAlone(db, entry, update);
  return db.transaction().execute((trx) => audit.appendWith(trx, entry, update));
}
