import { sql, type Kysely } from 'kysely';

/**
 * Closes two ways to cut the audit log back unnoticed:
 *
 * - Queued entries (audit_pending) leave the queue only into the chain. Until now the
 *   integrator's delete passed the guard because its transaction set
 *   `countersign.audit_integrate = on`, which any session may set. Now an AFTER DELETE
 *   statement trigger checks the deleted rows themselves: each must be, unchanged, one of
 *   the chain's newest records (audit_records.pending_id names the queued row it came from),
 *   and the chain's head must cover them. So no setting, role or session state lets a
 *   queued entry disappear: deleting it takes writing it into the chain, where verify checks
 *   its signature. This needs no database roles, so it holds alike on PGlite (one superuser)
 *   and on PostgreSQL. Only the table's owner or a superuser can get past it, by dropping
 *   or disabling the trigger (DDL, which an application role that does not own the tables
 *   cannot run; see docs/audit-log.md).
 * - Checkpoints are numbered, and each carries a signed link naming its number and its
 *   predecessor, so a checkpoint deleted from the table (or an export) is reported by the
 *   next one's link; the head counts them, so deleting the latest is reported too.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table audit_records add column pending_id bigint`.execute(db);

  // UPDATE and TRUNCATE stay refused by the old guard, which no longer looks at any setting.
  await sql`
    create or replace function countersign_audit_pending_guard() returns trigger language plpgsql as $$
    begin
      raise exception 'queued audit entries are only chained, never changed: % on audit_pending is refused', tg_op;
    end
    $$`.execute(db);
  await sql`drop trigger audit_pending_no_change on audit_pending`.execute(db);
  await sql`create trigger audit_pending_no_change before update on audit_pending for each statement execute function countersign_audit_pending_guard()`.execute(db);
  await sql`alter table audit_pending enable always trigger audit_pending_no_change`.execute(db);

  // Once per statement, after the whole statement (the integrator's delete runs in one
  // statement with the insert into audit_records and the head's move, and AFTER triggers
  // see all three). The join reads only the newest `n` records by primary key.
  await sql`
    create function countersign_audit_pending_chained() returns trigger language plpgsql as $$
    declare
      n bigint;
      head bigint;
      chained bigint;
    begin
      select count(*) into n from gone;
      if n = 0 then
        return null;
      end if;
      select seq into head from audit_head;
      select count(distinct gone.id) into chained
      from gone join audit_records r on r.pending_id = gone.id
      where r.seq > head - n and r.seq <= head
        and r.time = gone.time and r.event = gone.event and r.approval_id is not distinct from gone.approval_id
        and r.actor = gone.actor and r.data = gone.data;
      if chained <> n then
        raise exception 'queued audit entries leave the queue only into the chain: % of % deleted entries are not among the newest chained records', n - chained, n
          using hint = 'queued entries are removed only by the integrator, in the statement that chains them';
      end if;
      return null;
    end
    $$`.execute(db);
  await sql`create trigger audit_pending_only_chained after delete on audit_pending referencing old table as gone for each statement execute function countersign_audit_pending_chained()`.execute(db);
  await sql`alter table audit_pending enable always trigger audit_pending_only_chained`.execute(db);

  await sql`alter table audit_checkpoints add column number bigint unique`.execute(db);
  await sql`alter table audit_checkpoints add column link text`.execute(db);
  await sql`alter table audit_head add column checkpoints bigint not null default 0`.execute(db);
  await sql`
    create or replace function countersign_audit_head_forward() returns trigger language plpgsql as $$
    begin
      if tg_op = 'UPDATE' and new.origin = old.origin and new.seq >= old.seq and new.checkpoints >= old.checkpoints then
        return new;
      end if;
      raise exception 'the audit head only moves forward: % on audit_head is refused', tg_op;
    end
    $$`.execute(db);
  // Checkpoints signed before this migration are unnumbered; the numbers go on after them.
  await sql`update audit_head set checkpoints = (select count(*) from audit_checkpoints) where id`.execute(db);
}
