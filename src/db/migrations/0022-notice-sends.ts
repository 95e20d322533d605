import { sql, type Kysely } from 'kysely';

/**
 * Which recipients one `channel-notice` job has already reached (email: one message per
 * reviewer). A run that failed half-way is retried under the same job id, and the retry
 * sends only to those not listed, instead of mailing the first reviewers again.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('channel_notice_sends')
    .addColumn('job_id', 'text', (c) => c.notNull())
    .addColumn('recipient', 'text', (c) => c.notNull())
    .addColumn('approval_id', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('channel_notice_sends_pkey', ['job_id', 'recipient'])
    .execute();
}
