import { sql, type Kysely } from 'kysely';

/**
 * What provider webhooks need (GitHub first; Jira uses the same tables with its own `provider`).
 * Kept out of `Database` in schema.ts: the code that reads them uses `db.withTables<ProviderEventTables>()`.
 */
export type ProviderEventTables = {
  /** One row per delivery id seen (`X-GitHub-Delivery`): a redelivery of the same id is dropped. */
  webhook_deliveries: { provider: string; delivery_id: string; event: string; received_at: Date | string | undefined };
  /** One row per provider activity with a stable id (a comment) applied, from a webhook or reconciliation. */
  ticket_activities: { provider: string; activity_id: string; approval_id: string; applied_at: Date | string | undefined };
};

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('delivery_id', 'text', (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('received_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('webhook_deliveries_pk', ['provider', 'delivery_id'])
    .execute();
  // Pruning walks by age.
  await db.schema.createIndex('webhook_deliveries_received_at').on('webhook_deliveries').column('received_at').execute();

  await db.schema
    .createTable('ticket_activities')
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('activity_id', 'text', (c) => c.notNull())
    .addColumn('approval_id', 'text', (c) => c.notNull().references('approvals.id'))
    .addColumn('applied_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('ticket_activities_pk', ['provider', 'activity_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('ticket_activities').execute();
  await db.schema.dropTable('webhook_deliveries').execute();
}
