import { sql, type Kysely } from 'kysely';

/**
 * The audit log's tables and the triggers that make them append-only in the database
 * itself. Row triggers do not fire on TRUNCATE, hence the statement-level one; ENABLE
 * ALWAYS keeps them firing under `session_replication_role = replica`. An owner can
 * still drop them: they raise the bar, detection comes from the chain and checkpoints.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table audit_head (
      id boolean primary key default true check (id),
      origin text not null,
      seq bigint not null,
      hash text not null
    )`.execute(db);
  // The origin names this log in its checkpoints, so two deployments' checkpoints never pass for each other's.
  await sql`
    insert into audit_head (origin, seq, hash)
    values ('countersign/' || substr(md5(random()::text || clock_timestamp()::text), 1, 16), 0, ${'0'.repeat(64)})`.execute(db);

  await sql`
    create table audit_signing_keys (
      key_id text primary key,
      public_key text not null,
      created_at timestamptz not null default now()
    )`.execute(db);

  await sql`
    create table audit_records (
      seq bigint primary key,
      time timestamptz not null,
      approval_id text,
      event text not null,
      actor jsonb not null,
      data jsonb not null,
      prev_hash text not null unique,
      hash text not null unique,
      signature text not null,
      key_id text not null
    )`.execute(db);
  await sql`create index audit_records_approval_id on audit_records (approval_id, seq) where approval_id is not null`.execute(db);

  await sql`
    create table audit_checkpoints (
      tree_size bigint primary key,
      root_hash text not null,
      note text not null,
      key_id text not null,
      compact_range jsonb not null,
      created_at timestamptz not null default now()
    )`.execute(db);

  await sql`
    create table audit_anchors (
      tree_size bigint primary key,
      root_hash text not null,
      compact_range jsonb not null,
      created_at timestamptz not null default now()
    )`.execute(db);

  // Only the prune routine deletes, only records an anchor already covers (the old end),
  // and only while it has set countersign.audit_prune in its own transaction.
  await sql`
    create function countersign_audit_append_only() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' and tg_table_name = 'audit_records' and current_setting('countersign.audit_prune', true) = 'on' then
        if old.seq <= (select coalesce(max(tree_size), 0) from audit_anchors) then
          return old;
        end if;
      end if;
      raise exception 'the audit log is append-only: % on % is refused', tg_op, tg_table_name
        using hint = 'old audit records are removed only by: countersign audit prune --older-than DURATION';
    end
    $$`.execute(db);

  // The head moves forward only: its seq never goes back and its origin never changes.
  await sql`
    create function countersign_audit_head_forward() returns trigger language plpgsql as $$
    begin
      if tg_op = 'UPDATE' and new.origin = old.origin and new.seq >= old.seq then
        return new;
      end if;
      raise exception 'the audit head only moves forward: % on audit_head is refused', tg_op;
    end
    $$`.execute(db);
  await sql`create trigger audit_head_forward before update or delete on audit_head for each row execute function countersign_audit_head_forward()`.execute(db);
  await sql`create trigger audit_head_no_truncate before truncate on audit_head for each statement execute function countersign_audit_head_forward()`.execute(db);
  await sql`alter table audit_head enable always trigger audit_head_forward`.execute(db);
  await sql`alter table audit_head enable always trigger audit_head_no_truncate`.execute(db);

  for (const table of ['audit_records', 'audit_signing_keys', 'audit_checkpoints', 'audit_anchors']) {
    const t = sql.raw(table);
    await sql`create trigger ${sql.raw(`${table}_no_change`)} before update or delete on ${t} for each row execute function countersign_audit_append_only()`.execute(db);
    await sql`create trigger ${sql.raw(`${table}_no_truncate`)} before truncate on ${t} for each statement execute function countersign_audit_append_only()`.execute(db);
    await sql`alter table ${t} enable always trigger ${sql.raw(`${table}_no_change`)}`.execute(db);
    await sql`alter table ${t} enable always trigger ${sql.raw(`${table}_no_truncate`)}`.execute(db);
  }
}
