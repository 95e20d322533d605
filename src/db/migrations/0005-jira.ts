import { sql, type Kysely } from 'kysely';

/**
 * A Jira comment webhook carries a slim issue (key, no labels), so its approval is found by the
 * stored ticket key: `approvals.ticket->>'key'`, indexed per provider.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index approvals_ticket_key on approvals (provider, (ticket->>'key')) where ticket is not null`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists approvals_ticket_key`.execute(db);
}
