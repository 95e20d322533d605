import { sql, type Kysely } from 'kysely';

/**
 * The weekly review's settings (the mapping file's top-level `review:`, one row) and one row
 * per week posted: the row is claimed before the report is posted, so a second instance or a
 * retried job finds the week taken and posts nothing.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create table review_settings (
      id boolean primary key default true check (id),
      settings jsonb not null,
      updated_at timestamptz not null default now()
    )`.execute(db);
  await sql`
    create table review_posts (
      period_start timestamptz primary key,
      period_end timestamptz not null,
      status text not null check (status in ('posting', 'posted')),
      destination text not null,
      url text,
      report_hash text,
      created_at timestamptz not null default now(),
      posted_at timestamptz
    )`.execute(db);
}
