import { sql, type Kysely } from 'kysely';

/**
 * Approve with changes: the payload the agent sent, kept when a reviewer edits it (`payload`
 * then holds the edited one), and the JSON Schema an edit must satisfy. Standing grants: a
 * reviewer's "allow the same for N hours", matched at intake.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('approvals')
    .addColumn('original_payload', 'jsonb')
    .addColumn('original_payload_hash', 'text')
    .addColumn('payload_schema', 'jsonb')
    .execute();
  await db.schema
    .createTable('grants')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('project', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('api_key_id', 'text', (c) => c.notNull())
    .addColumn('requested_by', 'text')
    .addColumn('limits', 'jsonb', (c) => c.notNull())
    .addColumn('granted_by', 'text', (c) => c.notNull())
    .addColumn('approval_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoked_by', 'text')
    .addColumn('uses', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Who last changed a ticket's body (GitHub's signed `issues.edited`), so an approval arriving
  // with an edited payload is taken as an edit only when its approver made that edit.
  await db.schema
    .createTable('ticket_edits')
    .addColumn('approval_id', 'text', (c) => c.primaryKey())
    .addColumn('editor', 'text', (c) => c.notNull())
    .addColumn('body_hash', 'text', (c) => c.notNull())
    .addColumn('edited_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('grants_scope').on('grants').columns(['project', 'action', 'api_key_id']).execute();
}
