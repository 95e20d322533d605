import { sql, type Kysely } from 'kysely';

/**
 * Makes each audit write cheaper, keeping every guarantee:
 *
 * - Drops the unique indexes on audit_records' hash and prev_hash. Hashes are random, so each
 *   append wrote two random leaves of two indexes that grow with the log (about half the cost
 *   of a record insert at 100k rows, and random I/O once they outgrow memory). They guarded
 *   against forks, which the primary key on the gapless seq already rules out: every append
 *   moves the one head row under its lock, so seq n+1 is written once, after n. `audit verify`
 *   checks every link.
 * - The queue's guard fires once per statement instead of once per row: the integrator
 *   deletes hundreds of chained entries per statement, and a PL/pgSQL call per row was a
 *   large part of that. Any UPDATE or DELETE is refused as before, unless it is the
 *   integrator's delete.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table audit_records drop constraint audit_records_prev_hash_key`.execute(db);
  await sql`alter table audit_records drop constraint audit_records_hash_key`.execute(db);
  await sql`drop trigger audit_pending_no_change on audit_pending`.execute(db);
  await sql`create trigger audit_pending_no_change before update or delete on audit_pending for each statement execute function countersign_audit_pending_guard()`.execute(db);
  await sql`alter table audit_pending enable always trigger audit_pending_no_change`.execute(db);
}
