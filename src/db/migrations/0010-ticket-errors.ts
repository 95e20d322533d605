import type { Kysely } from 'kysely';

/**
 * Why an approval has no ticket yet: the last failed attempt to open it (a message safe for the
 * agent to read, when, and when it is tried again), shown as `ticketError` until a ticket exists.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('approvals').addColumn('ticket_error', 'jsonb').execute();
}
