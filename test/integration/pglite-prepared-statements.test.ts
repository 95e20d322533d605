import { sql, type Kysely, type Transaction } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/logger.ts';
import { openDatabase, type AppDatabase } from '../../src/db/open-database.ts';
import type { Database } from '../../src/db/schema.ts';
import { PREPARED_PER_CONNECTION } from '../../src/db/statement-names.ts';

interface Widget {
  id: number;
  name: string;
  made_at: Date;
  tags: string[];
  spec: { size: number };
  weight: string | null;
}

/** The statements the embedded database holds prepared, by text. */
async function prepared(db: Kysely<Database> | Transaction<Database>): Promise<string[]> {
  const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements order by prepare_time`.execute(db);
  return rows.map((row) => row.statement);
}

// kysely's own table types do not list the test's table.
const widgets = (db: Kysely<Database> | Transaction<Database>) => db as unknown as Kysely<{ widgets: Widget }>;

// The embedded database only: PostgreSQL's pool is tested in prepared-statements.test.ts.
describe('statements on the embedded PGlite run as named prepared statements (db/pglite-prepared-statements.ts)', () => {
  let database: AppDatabase;
  const madeAt = new Date('2026-12-02T10:11:12.345Z');

  beforeAll(async () => {
    database = await openDatabase({ kind: 'pglite', dataDir: 'memory' }, createLogger('silent'));
    await sql`create table widgets (id int primary key, name text not null, made_at timestamptz not null, tags text[] not null, spec jsonb not null, weight numeric)`.execute(database.db);
    await sql`insert into widgets values (1, 'one', ${madeAt}, '{a,b}', '{"size": 1}', 1.5), (2, 'two', ${madeAt}, '{}', '{"size": 2}', null)`.execute(database.db);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('prepares a statement with parameters on its second run, with the same typed values as an unnamed run, and leaves those without parameters unnamed', async () => {
    const byId = (db: Kysely<Database> | Transaction<Database>, id: number) => widgets(db).selectFrom('widgets').selectAll().where('id', '=', id).executeTakeFirst();
    const first = await byId(database.db, 1);
    expect(await prepared(database.db)).not.toContainEqual(expect.stringContaining('widgets'));
    const again = await byId(database.db, 1);
    const inTransaction = await database.db.transaction().execute((trx) => byId(trx, 1));
    expect(first).toEqual({ id: 1, name: 'one', made_at: madeAt, tags: ['a', 'b'], spec: { size: 1 }, weight: '1.5' });
    expect(again).toEqual(first);
    expect(inTransaction).toEqual(first);
    expect(again!.made_at).toBeInstanceOf(Date);
    expect(await byId(database.db, 2)).toEqual({ id: 2, name: 'two', made_at: madeAt, tags: [], spec: { size: 2 }, weight: null });
    await sql`select count(*) from widgets`.execute(database.db);
    await sql`select count(*) from widgets`.execute(database.db);
    expect((await prepared(database.db)).filter((text) => text.includes('widgets'))).toEqual(['select * from "widgets" where "id" = $1']);
  });

  it('writes with prepared statements too: dates, arrays and JSON parameters round-trip, and the affected row count is reported', async () => {
    for (const id of [10, 11]) {
      const result = await widgets(database.db)
        .insertInto('widgets')
        .values({ id, name: `w${id}`, made_at: madeAt, tags: ['x', 'y'], spec: sql`${JSON.stringify({ size: id })}::jsonb` as unknown as { size: number }, weight: null })
        .executeTakeFirst();
      expect(result.numInsertedOrUpdatedRows).toBe(1n);
    }
    const updated = await widgets(database.db).updateTable('widgets').set({ name: 'many' }).where('id', 'in', [10, 11]).executeTakeFirst();
    expect(updated.numUpdatedRows).toBe(2n);
    expect(await widgets(database.db).selectFrom('widgets').select(['id', 'name', 'tags', 'spec', 'made_at']).where('id', '>=', 10).orderBy('id').execute()).toEqual([
      { id: 10, name: 'many', tags: ['x', 'y'], spec: { size: 10 }, made_at: madeAt },
      { id: 11, name: 'many', tags: ['x', 'y'], spec: { size: 11 }, made_at: madeAt },
    ]);
  });

  it('fails a prepared statement as PostgreSQL does (its SQLSTATE), rolls back its transaction, and leaves the database usable', async () => {
    const insert = (trx: Transaction<Database>, id: number) => widgets(trx).insertInto('widgets').values({ id, name: 'dup', made_at: madeAt, tags: [], spec: sql`'{}'::jsonb` as unknown as { size: number }, weight: null }).execute();
    for (let run = 0; run < 3; run += 1) {
      await expect(
        database.db.transaction().execute(async (trx) => {
          await insert(trx, 20 + run);
          await insert(trx, 1);
        }),
      ).rejects.toMatchObject({ code: '23505' });
    }
    // Nothing of the failed transactions stayed, and the next statements run.
    expect(await widgets(database.db).selectFrom('widgets').select('id').where('id', '>=', 20).execute()).toEqual([]);
    expect(await widgets(database.db).selectFrom('widgets').select('name').where('id', '=', 2).executeTakeFirst()).toEqual({ name: 'two' });
  });

  it('keeps parameter values out of a failed statement\'s error, prepared or not: they can be secrets, and errors are logged', async () => {
    const secret = 'whsec_do-not-log-me';
    for (let run = 0; run < 3; run += 1) {
      const error = await database.db
        .transaction()
        .execute((trx) => widgets(trx).insertInto('widgets').values({ id: 1, name: secret, made_at: madeAt, tags: [secret], spec: sql`'{}'::jsonb` as unknown as { size: number }, weight: null }).execute())
        .catch((failure: unknown) => failure);
      expect(error).toMatchObject({ code: '23505' });
      expect(JSON.stringify(pino.stdSerializers.err(error as Error))).not.toContain(secret);
    }
    for (let run = 0; run < 3; run += 1) {
      const viaJobs = await database.jobSql.executeSql(`insert into widgets (id, name, made_at, tags, spec) values ($1, $2, now(), '{}', '{}')`, [1, secret]).catch((failure: unknown) => failure);
      expect(viaJobs).toMatchObject({ code: '23505' });
      expect(JSON.stringify(pino.stdSerializers.err(viaJobs as Error))).not.toContain(secret);
    }
  });

  it('never runs a statement of the job queue inside a transaction that is open: it waits for the transaction to end', async () => {
    // pg-boss runs its statements on the instance itself, beside kysely (whose own wait for its one connection it does not share).
    const count = async () => ((await database.jobSql.executeSql('select count(*)::int as n from widgets where id > $1', [0])) as { rows: Array<{ n: number }> }).rows[0]!.n;
    const before = await count();
    expect(await count()).toBe(before); // prepared from here on
    let outside: Promise<number> | undefined;
    await expect(
      database.db.transaction().execute(async (trx) => {
        await widgets(trx).insertInto('widgets').values({ id: 30, name: 'uncommitted', made_at: madeAt, tags: [], spec: sql`'{}'::jsonb` as unknown as { size: number }, weight: null }).execute();
        outside = count();
        await new Promise((resolve) => setTimeout(resolve, 50));
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    // Had it run inside the transaction, it would have counted the row that was rolled back.
    expect(await outside!).toBe(before);
    expect((await prepared(database.db)).filter((text) => text.includes('count(*)::int as n from widgets'))).toHaveLength(1);
  });

  it('survives a table changing shape under a prepared statement that reads it with *: at once outside a transaction, on the next run inside one', async () => {
    const star = (db: Kysely<Database> | Transaction<Database>, id: number) => widgets(db).selectFrom('widgets').selectAll().where('id', '=', id).executeTakeFirst();
    expect(await star(database.db, 2)).toMatchObject({ id: 2 });
    expect(await star(database.db, 2)).toMatchObject({ id: 2 }); // prepared
    await sql`alter table widgets add column colour text not null default 'red'`.execute(database.db);
    expect(await star(database.db, 2)).toMatchObject({ id: 2, colour: 'red' });
    expect(await star(database.db, 2)).toMatchObject({ id: 2, colour: 'red' }); // prepared again
    await sql`alter table widgets add column finish text not null default 'matt'`.execute(database.db);
    await expect(database.db.transaction().execute((trx) => star(trx, 2))).rejects.toMatchObject({ code: '0A000' });
    expect(await database.db.transaction().execute((trx) => star(trx, 2))).toMatchObject({ id: 2, colour: 'red', finish: 'matt' });
  });

  it(`holds at most ${PREPARED_PER_CONNECTION}; statements beyond run unnamed, with their results`, async () => {
    const before = (await prepared(database.db)).length;
    for (let i = 0; i < PREPARED_PER_CONNECTION + 20; i += 1) {
      for (const run of [1, 2]) {
        const { rows } = await sql<{ sum: number }>`select ${sql.raw(String(i))} + ${run}::int as sum`.execute(database.db);
        expect(rows).toEqual([{ sum: i + run }]);
      }
    }
    expect((await prepared(database.db)).length).toBe(PREPARED_PER_CONNECTION);
    expect(before).toBeLessThan(PREPARED_PER_CONNECTION);
  });
});
