import { sql, type Kysely } from 'kysely';

/**
 * State changes enqueue their audit entry here, in their own transaction and without any
 * lock; one integrator chains, signs and moves entries into audit_records in batches. Rows
 * are only ever inserted, or deleted by the integrator as it chains them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table audit_pending (
      id bigint generated always as identity primary key,
      time timestamptz not null,
      approval_id text,
      event text not null,
      actor jsonb not null,
      data jsonb not null
    )`.execute(db);
  await sql`
    create function countersign_audit_pending_guard() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' and current_setting('countersign.audit_integrate', true) = 'on' then
        return old;
      end if;
      raise exception 'queued audit entries are only chained, never changed: % on audit_pending is refused', tg_op;
    end
    $$`.execute(db);
  await sql`create trigger audit_pending_no_change before update or delete on audit_pending for each row execute function countersign_audit_pending_guard()`.execute(db);
  await sql`create trigger audit_pending_no_truncate before truncate on audit_pending for each statement execute function countersign_audit_pending_guard()`.execute(db);
  await sql`alter table audit_pending enable always trigger audit_pending_no_change`.execute(db);
  await sql`alter table audit_pending enable always trigger audit_pending_no_truncate`.execute(db);
}
