import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // The policy the rules resolved at intake (tiers, quorum, batching), kept so a later
  // mapping change does not alter what an approval in flight was promised.
  await db.schema.alterTable('approvals').addColumn('policy', 'jsonb').execute();

  await db.schema
    .createTable('batches')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('open', 'ticketed', 'decided')`))
    .addColumn('max_items', 'integer', (c) => c.notNull())
    .addColumn('closes_at', 'timestamptz', (c) => c.notNull())
    .addColumn('ticket', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('closed_at', 'timestamptz')
    .execute();
  // At most one open batch per project: concurrent intakes join the same one.
  await sql`create unique index batches_one_open_per_project on batches (project) where status = 'open'`.execute(db);
  await db.schema.createIndex('approvals_batch').on('approvals').column('batch_id').execute();
}
