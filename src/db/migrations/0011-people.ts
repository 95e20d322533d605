import { sql, type Kysely } from 'kysely';

/**
 * The people directory of the mapping file (one row per person, replaced whole by `projects
 * apply`), and where each notification channel put an approval's notice, so later notices
 * update it in place (Slack: channel and `ts`); a row without `ref` is a notice queued, not posted yet.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('people')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('person', 'jsonb', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createTable('channel_messages')
    .addColumn('approval_id', 'text', (c) => c.notNull())
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('ref', 'jsonb')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('channel_messages_pkey', ['approval_id', 'channel'])
    .execute();
}
