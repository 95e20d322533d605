import { sql, type Kysely } from 'kysely';
import type { AppDatabase } from './open-database.ts';
import type { Database } from './schema.ts';

const runs = new Map<string, Promise<unknown>>();

/**
 * Runs `run` for `key` one at a time: a job and its retry (or the job of a killed instance)
 * may run at once, and two runs each calling a provider made duplicate tickets (issue 19). In
 * one process a promise chain orders the runs; on a shared PostgreSQL an advisory lock, held
 * across `run`, orders the instances (the embedded database is one process's, and a transaction
 * held there would hold its only connection). `run` must check again, once it holds the turn,
 * whether the work is still to be done. `acrossInstances: false` keeps to the in-process order:
 * for work frequent enough that holding a pooled connection per run would starve the pool; it gets the executor to write with (the lock's
 * transaction on PostgreSQL, so its writes commit as the turn ends).
 */
export function exclusiveRun<T>(database: Pick<AppDatabase, 'kind' | 'db'>, key: string, run: (db: Kysely<Database>) => Promise<T>, options: { acrossInstances?: boolean } = {}): Promise<T> {
  const locked = () =>
    database.kind === 'postgres' && options.acrossInstances !== false
      ? database.db.transaction().execute(async (trx) => {
          await sql`select pg_advisory_xact_lock(hashtext(${`countersign: ${key}`}))`.execute(trx);
          return run(trx);
        })
      : run(database.db);
  const next = (runs.get(key) ?? Promise.resolve()).then(locked, locked);
  const settled = next.catch(() => undefined);
  runs.set(key, settled);
  void settled.then(() => {
    if (runs.get(key) === settled) runs.delete(key);
  });
  return next;
}
