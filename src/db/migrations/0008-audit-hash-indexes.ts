import { sql, type Kysely } from 'kysely';

/**
 * Drops the unique indexes on audit_records' hash and prev_hash. Hashes are random, so each
 * append wrote two random leaves of two indexes that grow with the log (measured: half the
 * cost of a record insert at 100k rows, and random I/O once they outgrow memory). They
 * guarded against forks, which the primary key on the gapless seq already rules out: every
 * append moves the one head row under its lock, so seq n+1 is written once, after n.
 * `audit verify` checks every link.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table audit_records drop constraint audit_records_prev_hash_key`.execute(db);
  await sql`alter table audit_records drop constraint audit_records_hash_key`.execute(db);
}
