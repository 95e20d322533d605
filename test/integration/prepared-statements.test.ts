import { sql, type Kysely, type Transaction } from 'kysely';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/logger.ts';
import { openDatabase, type AppDatabase } from '../../src/db/open-database.ts';
import { PREPARED_PER_CONNECTION } from '../../src/db/statement-names.ts';
import type { Database } from '../../src/db/schema.ts';
import { postgresDatabase, postgresUrl } from '../helpers/databases.ts';

/** The statements this connection holds prepared on the server, by text. */
async function preparedOnThisConnection(db: Kysely<Database> | Transaction<Database>): Promise<string[]> {
  const { rows } = await sql<{ statement: string }>`select statement from pg_prepared_statements order by prepare_time`.execute(db);
  return rows.map((row) => row.statement);
}

// PostgreSQL only: the embedded PGlite has its own (pglite-prepared-statements.test.ts).
describe.skipIf(!postgresUrl)('statements on PostgreSQL run as named prepared statements (db/prepared-statements.ts)', () => {
  let disposeDatabase: () => Promise<void>;
  let url: string;
  let database: AppDatabase;
  let admin: pg.Client;

  beforeAll(async () => {
    const created = await postgresDatabase(postgresUrl!).create();
    disposeDatabase = created.dispose;
    url = (created.target as { url: string }).url;
    database = await openDatabase({ kind: 'postgres', url }, createLogger('silent'));
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query('create table widgets (id int primary key, name text not null)');
    await admin.query("insert into widgets values (1, 'one'), (2, 'two')");
  });
  afterAll(async () => {
    await admin?.end();
    await database?.close();
    await disposeDatabase?.();
  });

  // kysely's own table types do not list the test's table.
  const widgets = (db: Kysely<Database> | Transaction<Database>) => (db as unknown as Kysely<{ widgets: { id: number; name: string } }>).selectFrom('widgets');

  it('prepares a statement with parameters on its second run on a connection, and leaves those without parameters or run once unnamed', async () => {
    await database.db.transaction().execute(async (trx) => {
      expect(await widgets(trx).select('name').where('id', '=', 1).executeTakeFirst()).toEqual({ name: 'one' });
      expect((await preparedOnThisConnection(trx)).filter((text) => text.includes('widgets'))).toEqual([]);
      expect(await widgets(trx).select('name').where('id', '=', 2).executeTakeFirst()).toEqual({ name: 'two' });
      expect(await widgets(trx).select('name').where('id', '=', 1).executeTakeFirst()).toEqual({ name: 'one' });
      await sql`select count(*) from widgets`.execute(trx);
      await sql`select count(*) from widgets`.execute(trx);
      expect(await widgets(trx).select('id').where('name', '=', 'two').executeTakeFirst()).toEqual({ id: 2 });
      const prepared = await preparedOnThisConnection(trx);
      expect(prepared.filter((text) => text.includes('widgets'))).toEqual(['select "name" from "widgets" where "id" = $1']);
    });
  });

  it('survives another process changing the shape of a table a prepared statement reads with *: at once outside a transaction, on the next run inside one', async () => {
    await database.db.connection().execute(async (connection) => {
      const all = (id: number) => widgets(connection).selectAll().where('id', '=', id).executeTakeFirst();
      expect(await all(2)).toEqual({ id: 2, name: 'two' });
      expect(await all(1)).toEqual({ id: 1, name: 'one' }); // prepared
      await admin.query("alter table widgets add column colour text not null default 'red'");
      // PostgreSQL refuses the prepared plan ("cached plan must not change result type"); with no transaction open, it runs again prepared anew.
      expect(await all(1)).toEqual({ id: 1, name: 'one', colour: 'red' });

      expect(await all(2)).toEqual({ id: 2, name: 'two', colour: 'red' }); // prepared again
      await admin.query("alter table widgets add column size text not null default 'small'");
      // Inside a transaction the failure is the transaction's: nothing can be run again in it.
      await expect(
        connection.transaction().execute(async (trx) => widgets(trx).selectAll().where('id', '=', 1).executeTakeFirst()),
      ).rejects.toMatchObject({ code: '0A000' });
      expect(await all(1)).toEqual({ id: 1, name: 'one', colour: 'red', size: 'small' });
    });
  });

  it(`holds at most ${PREPARED_PER_CONNECTION} on a connection; statements beyond run unnamed, with their results`, async () => {
    await database.db.transaction().execute(async (trx) => {
      const before = (await preparedOnThisConnection(trx)).length;
      for (let i = 0; i < PREPARED_PER_CONNECTION + 20; i += 1) {
        for (const run of [1, 2]) {
          const { rows } = await sql<{ sum: number }>`select ${sql.raw(String(i))} + ${run}::int as sum`.execute(trx);
          expect(rows).toEqual([{ sum: i + run }]);
        }
      }
      expect((await preparedOnThisConnection(trx)).length).toBe(PREPARED_PER_CONNECTION);
      expect(before).toBeLessThan(PREPARED_PER_CONNECTION);
    });
  });

  it('keeps parameter values out of a failed statement\'s error, prepared or not: they can be secrets, and errors are logged', async () => {
    const secret = 'whsec_do-not-log-me';
    for (let run = 0; run < 3; run += 1) {
      const error = await database.db
        .transaction()
        .execute((trx) => (trx as unknown as Kysely<{ widgets: { id: number; name: string } }>).insertInto('widgets').values({ id: 1, name: secret }).execute())
        .catch((failure: unknown) => failure);
      expect(error).toMatchObject({ code: '23505' });
      expect(JSON.stringify(pino.stdSerializers.err(error as Error))).not.toContain(secret);
    }
  });

  it('prepares nothing with preparedStatements off (DATABASE_PREPARED_STATEMENTS=off, for a pooler that cannot hold them)', async () => {
    const unprepared = await openDatabase({ kind: 'postgres', url, preparedStatements: false }, createLogger('silent'));
    try {
      await unprepared.db.transaction().execute(async (trx) => {
        for (const id of [1, 2]) expect(await widgets(trx).select('id').where('id', '=', id).executeTakeFirst()).toEqual({ id });
        expect(await preparedOnThisConnection(trx)).toEqual([]);
      });
    } finally {
      await unprepared.close();
    }
  });
});
