import { sql, type ExpressionBuilder, type Kysely, type UpdateQueryBuilder, type UpdateResult } from 'kysely';
import type { CallbackDeliveryRow, Database } from '../db/schema.ts';

/** A claimed delivery, with its key's secret and callback hosts (null when the key is gone). */
export interface ClaimedRow {
  row: CallbackDeliveryRow;
  secret: string | null;
  allowHosts: string[] | null;
}

/** How long from now a claim lasts, on the database's clock (every instance compares with it). */
export const claimExpiry = (claimMs: number) => sql<Date>`now() + ${`${claimMs} milliseconds`}::interval`;

/** A pending delivery that is due (no retry waiting) and that nobody holds (no claim, or a lapsed one). */
function dueAndUnclaimed(eb: ExpressionBuilder<Database, 'callback_deliveries'>) {
  return eb.and([
    eb('status', '=', 'pending'),
    eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', sql<Date>`now()`)]),
    eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', sql<Date>`now()`)]),
  ]);
}

/**
 * The key's webhook secret and callback hosts, as RETURNING columns of the statement that claims
 * its delivery (the sweep's or redeliver's UPDATE of the delivery, the decision's UPDATE of its
 * approval, which inserts the delivery): no key read after it. `keyId` is the column naming the key.
 */
export const sendingKeyColumns = (keyId: 'callback_deliveries.api_key_id' | 'approvals.api_key_id') =>
  [
    sql<string | null>`(select webhook_secret from api_keys where api_keys.id = ${sql.ref(keyId)})`.as('webhook_secret'),
    sql<string[] | null>`(select callback_hosts from api_keys where api_keys.id = ${sql.ref(keyId)})`.as('callback_hosts'),
  ] as const;

/** A row returned with `sendingKeyColumns`, as a claimed delivery. */
function claimedRow({ webhook_secret, callback_hosts, ...row }: CallbackDeliveryRow & { webhook_secret: string | null; callback_hosts: string[] | null }): ClaimedRow {
  return { row, secret: webhook_secret, allowHosts: callback_hosts };
}

/** The claim's UPDATE, returning the rows with what sending them needs: one statement. */
async function claimWhere(db: Kysely<Database>, claimMs: number, narrow: (update: UpdateQueryBuilder<Database, 'callback_deliveries', 'callback_deliveries', UpdateResult>) => UpdateQueryBuilder<Database, 'callback_deliveries', 'callback_deliveries', UpdateResult>): Promise<ClaimedRow[]> {
  const rows = await narrow(db.updateTable('callback_deliveries').set({ claimed_until: claimExpiry(claimMs) }))
    .returningAll()
    .returning(sendingKeyColumns('callback_deliveries.api_key_id'))
    .execute();
  return rows.map(claimedRow);
}

/** Claims one approval's delivery if it is due and unclaimed (redeliver, a job left from before the sweep). */
export async function claimDelivery(db: Kysely<Database>, approvalId: string, claimMs: number): Promise<ClaimedRow | undefined> {
  const [claimed] = await claimWhere(db, claimMs, (update) => update.where('approval_id', '=', approvalId).where(dueAndUnclaimed));
  return claimed;
}

/**
 * Whether any delivery is due and unclaimed: the sweep's usual look on an idle server, a plain
 * read of the partial index of pending deliveries (migration 0024), about a quarter of the
 * claim's cost (measured on PGlite: 0.6 against 2.0 ms of CPU), most of it the claim's planning.
 */
export async function anyDeliveryDue(db: Kysely<Database>): Promise<boolean> {
  const due = await db.selectFrom('callback_deliveries').select('approval_id').where(dueAndUnclaimed).limit(1).executeTakeFirst();
  return due !== undefined;
}

/**
 * Claims up to `limit` deliveries that are due and unclaimed, for the sweep: first attempts
 * whose sender died after the decision committed (its claim lapsed), retries whose time has
 * come, redeliveries. SKIP LOCKED lets instances sweeping at the same moment take different
 * rows instead of waiting on each other; the claim then keeps the rows theirs while they send.
 * Served by the partial index of pending deliveries (migration 0024).
 */
export async function claimDueDeliveries(db: Kysely<Database>, limit: number, claimMs: number): Promise<ClaimedRow[]> {
  return claimWhere(db, claimMs, (update) =>
    update.where('approval_id', 'in', (eb) => eb.selectFrom('callback_deliveries').select('approval_id').where(dueAndUnclaimed).orderBy(sql`next_attempt_at nulls first`).limit(limit).forUpdate().skipLocked()),
  );
}
