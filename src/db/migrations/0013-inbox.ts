import { sql, type Kysely } from 'kysely';

/**
 * The web inbox (issue 15): browser sessions, one-time tokens (sign-in links and the approval
 * links of emails) and the sign-in requests rate limits count. Every secret is stored only as
 * its SHA-256: a copy of the database signs nobody in.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('inbox_sessions')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('person', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('inbox_sessions_expires_at').on('inbox_sessions').column('expires_at').execute();

  // `purpose`: 'sign-in' (a login link) or 'approval' (an email's link, bound to the approval,
  // the person and the payload hash). `used_at` makes either single-use.
  await db.schema
    .createTable('inbox_tokens')
    .addColumn('token_hash', 'text', (c) => c.primaryKey())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('person', 'text', (c) => c.notNull())
    .addColumn('approval_id', 'text')
    .addColumn('payload_hash', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('used_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('inbox_tokens_expires_at').on('inbox_tokens').column('expires_at').execute();

  // One row per `POST /login` with an address, known or not (so both cost the same), keyed by
  // the address's hash and the client's address: what the rate limit counts.
  await db.schema
    .createTable('inbox_sign_in_requests')
    .addColumn('address_hash', 'text', (c) => c.notNull())
    .addColumn('client', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('inbox_sign_in_requests_address').on('inbox_sign_in_requests').columns(['address_hash', 'created_at']).execute();
  await db.schema.createIndex('inbox_sign_in_requests_client').on('inbox_sign_in_requests').columns(['client', 'created_at']).execute();
}
