import { sql, type Kysely } from 'kysely';

/**
 * The callback sweep (callbacks/claim-due-deliveries.ts) asks every few seconds, on every
 * instance, for the pending deliveries that are due: this index holds only pending rows, so
 * the question costs an idle server one look at an empty index, however many callbacks were
 * delivered before.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index callback_deliveries_pending on callback_deliveries (next_attempt_at) where status = 'pending'`.execute(db);
}
