import { sql, type Kysely, type Transaction } from 'kysely';
import type { JobInsert, PgBoss } from 'pg-boss';
import type { Logger } from 'pino';
import { executorFor } from '../db/open-database.ts';
import type { Database } from '../db/schema.ts';

/**
 * Countersign 0.1 ran pg-boss 10 (schema version 24). No pg-boss release migrates that schema:
 * pg-boss 11 rewrote it (version 25) without a migration and asks users to move their jobs
 * themselves (https://github.com/timgit/pg-boss/issues/590), and pg-boss 12 starts from 25. So
 * the old schema is renamed before pg-boss 12 installs its own, and its waiting jobs are
 * re-sent through pg-boss's `insert` once the queues exist, in one transaction with the drop
 * of the old schema: a crash at any point leaves either the old schema to finish from, or
 * nothing left to do. Completed and failed jobs (pg-boss's history, not work) are not carried.
 */
const OLD_SCHEMA = 'pgboss_v10';
/** The first schema version pg-boss 12 migrates from. */
const FIRST_MIGRATABLE_VERSION = 25;
/** Serializes instances that start at once on one PostgreSQL database. */
const UPGRADE_LOCK = sql`select pg_advisory_xact_lock(hashtext('countersign: pg-boss 10 upgrade'))`;

const schemaExists = async (trx: Transaction<Database>, schema: string) =>
  (await sql<{ found: boolean }>`select exists (select 1 from pg_namespace where nspname = ${schema}) as found`.execute(trx)).rows[0]!.found;

/**
 * Before pg-boss starts: moves a pg-boss 10 schema out of pg-boss 12's way. Returns whether
 * there are old jobs to move (also true when an earlier start stopped half-way).
 */
export async function setAsidePgBoss10(db: Kysely<Database>, logger: Logger): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    await UPGRADE_LOCK.execute(trx);
    const versionTable = (await sql<{ table: string | null }>`select to_regclass('pgboss.version')::text as table`.execute(trx)).rows[0]!.table;
    if (versionTable) {
      const version = (await sql<{ version: number }>`select version from pgboss.version`.execute(trx)).rows[0]?.version;
      if (version !== undefined && version < FIRST_MIGRATABLE_VERSION) {
        if (await schemaExists(trx, OLD_SCHEMA)) throw new Error(`both pgboss (schema version ${version}) and ${OLD_SCHEMA} exist: a pg-boss 10 upgrade is half done twice; keep the one with the jobs and drop the other`);
        logger.info({ version }, `pg-boss 10 schema found: moved to ${OLD_SCHEMA}; its waiting jobs move to pg-boss 12 after start`);
        await sql`alter schema pgboss rename to ${sql.id(OLD_SCHEMA)}`.execute(trx);
      }
    }
    return schemaExists(trx, OLD_SCHEMA);
  });
}

interface OldJob {
  id: string;
  name: string;
  priority: number;
  data: object | null;
  state: 'created' | 'retry' | 'active';
  retry_limit: number;
  retry_count: number;
  retry_delay: number;
  retry_backoff: boolean;
  start_after: Date;
  started_on: Date | null;
  singleton_key: string | null;
  expire_seconds: number;
}

/**
 * After pg-boss 12 started and made the queues: re-sends the old schema's waiting jobs (queued,
 * retrying, delayed, and active ones, whose process is gone) with their ids, due times and
 * retry settings, then drops the old schema. Returns how many jobs moved.
 */
export async function movePgBoss10Jobs(db: Kysely<Database>, boss: PgBoss, logger: Logger): Promise<number> {
  return db.transaction().execute(async (trx) => {
    await UPGRADE_LOCK.execute(trx);
    // Another instance finished while this one waited for the lock.
    if (!(await schemaExists(trx, OLD_SCHEMA))) return 0;
    const { rows } = await sql<OldJob>`
      select id, name, priority, data, state, retry_limit, retry_count, retry_delay, retry_backoff, start_after, started_on, singleton_key,
        extract(epoch from expire_in)::int as expire_seconds
      from ${sql.table(`${OLD_SCHEMA}.job`)}
      where state in ('created', 'retry', 'active') and not starts_with(name, '__pgboss__')
      order by created_on`.execute(trx);
    const executor = executorFor(trx);
    const queues = new Map<string, OldJob[]>();
    for (const job of rows) queues.set(job.name, [...(queues.get(job.name) ?? []), job]);
    for (const [queue, jobs] of queues) await boss.insert(queue, jobs.map(toInsert), { db: executor });
    // pg-boss's insert has no retry count; an attempt that began under pg-boss 10 (it counts one
    // up when it fetches a job it ran before) still counts, so backoff and the retry limit go on.
    for (const job of rows) {
      const attemptsBefore = job.retry_count + (job.started_on ? 1 : 0);
      if (attemptsBefore > 0) await sql`update pgboss.job set retry_count = ${attemptsBefore} where name = ${job.name} and id = ${job.id}`.execute(trx);
    }
    await sql`drop schema ${sql.id(OLD_SCHEMA)} cascade`.execute(trx);
    logger.info({ jobs: rows.length, queues: [...queues.keys()] }, 'pg-boss 10 jobs moved to pg-boss 12; the old schema is dropped');
    return rows.length;
  });
}

function toInsert(job: OldJob): JobInsert {
  return {
    id: job.id,
    data: job.data ?? {},
    priority: job.priority,
    // An active job's process is gone (pg-boss 10 and 12 cannot run side by side): it runs again now.
    startAfter: job.state === 'active' ? new Date() : job.start_after,
    retryLimit: job.retry_limit,
    retryDelay: job.retry_delay,
    retryBackoff: job.retry_backoff,
    expireInSeconds: job.expire_seconds,
    ...(job.singleton_key ? { singletonKey: job.singleton_key } : {}),
  };
}
