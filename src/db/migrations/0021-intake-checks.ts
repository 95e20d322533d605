import { sql, type Kysely } from 'kysely';

/**
 * Two checks intake's insert makes on what it read earlier from its process's caches, as
 * functions its VALUES call (src/intake/create-approval.ts): each returns its argument, or
 * raises and so fails the whole statement, the approval and its queued audit entry with it.
 * That keeps an intake that is one statement alone (no BEGIN, no COMMIT) as safe as one in a
 * transaction: nothing commits for a key revoked meanwhile or against a mapping replaced
 * meanwhile, on any instance. The SQLSTATEs are intake's own (class CS), told apart in code.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function countersign_live_key(key_id text) returns text language plpgsql as $$
    begin
      if not exists (select 1 from api_keys where id = key_id and revoked_at is null) then
        raise exception 'API key % is unknown or revoked', key_id using errcode = 'CSK01';
      end if;
      return key_id;
    end
    $$`.execute(db);
  // A row's xmin is the transaction that last wrote it: any apply or delete changes it.
  await sql`
    create function countersign_mapped_project(project_key text, read_version text) returns text language plpgsql as $$
    begin
      if (select xmin::text from projects where key = project_key) is distinct from read_version then
        raise exception 'the mapping of project % changed since it was read', project_key using errcode = 'CSM01';
      end if;
      return project_key;
    end
    $$`.execute(db);
}
