import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('api_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('scopes', 'jsonb', (c) => c.notNull())
    .addColumn('project', 'text')
    .addColumn('reviewer', 'text')
    .addColumn('callback_hosts', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('webhook_secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .execute();

  await db.schema
    .createTable('projects')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('mapping', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('approvals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('summary', 'text', (c) => c.notNull())
    .addColumn('details', 'text')
    .addColumn('payload', 'jsonb', (c) => c.notNull())
    .addColumn('payload_hash', 'text', (c) => c.notNull())
    .addColumn('risk', 'text', (c) => c.notNull().check(sql`risk in ('low', 'medium', 'high')`))
    .addColumn('labels', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('requested_by', 'text')
    .addColumn('callback_url', 'text')
    .addColumn('api_key_id', 'text', (c) => c.notNull().references('api_keys.id'))
    .addColumn('status', 'text', (c) =>
      c.notNull().check(sql`status in ('pending', 'approved', 'rejected', 'expired', 'cancelled')`),
    )
    .addColumn('required_approvals', 'integer', (c) => c.notNull().check(sql`required_approvals >= 1`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('decided_at', 'timestamptz')
    .addColumn('decision', 'jsonb')
    .addColumn('ticket', 'jsonb')
    .addColumn('escalation_tier', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('batch_id', 'text')
    .execute();
  // Listing pages walk ids (time-ordered ULIDs) backwards, narrowed by project and status.
  await db.schema.createIndex('approvals_project_status_id').on('approvals').columns(['project', 'status', 'id']).execute();
  await db.schema.createIndex('approvals_status_id').on('approvals').columns(['status', 'id']).execute();

  await db.schema
    .createTable('decision_votes')
    .addColumn('approval_id', 'text', (c) => c.notNull().references('approvals.id'))
    .addColumn('reviewer', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull().check(sql`outcome in ('approve', 'reject')`))
    .addColumn('reason', 'text')
    .addColumn('via', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('decision_votes_pk', ['approval_id', 'reviewer'])
    .execute();

  await db.schema
    .createTable('idempotency_keys')
    .addColumn('api_key_id', 'text', (c) => c.notNull().references('api_keys.id'))
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('approval_id', 'text', (c) => c.notNull().references('approvals.id'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['api_key_id', 'key'])
    .execute();
}
