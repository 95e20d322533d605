import type { PostgresCursor, PostgresPool, PostgresPoolClient } from 'kysely';
import pg from 'pg';
import { createStatementNames, isStaleStatement } from './statement-names.ts';

/**
 * The pool kysely runs on, running each statement that has parameters as a named prepared
 * statement on its connection: PostgreSQL then parses and plans it once per connection instead
 * of on every call, and the driver sends its text once. An intake's statement (approval row,
 * audit entry, job: CTEs over three tables, pg-boss's job table with its 17 indexes) cost the
 * database 0.56–0.74 ms of CPU unnamed and 0.46–0.53 ms named, with its job 1.55–1.61 ms and
 * 0.76–0.87 ms (issue 21, `npm run bench -- intake`).
 *
 * A statement is prepared on its second run on a connection, so that one built for a single use
 * takes no place. Statements without parameters (BEGIN, COMMIT, DDL, multi-statement text) stay
 * unnamed, and so do pg-boss's own, which it runs through the pool itself.
 *
 * A prepared statement can go stale when another instance's migration changes a table it reads
 * with `*` ("cached plan must not change result type"), or vanish (a pooler's `DISCARD ALL`):
 * that text is forgotten, and the statement runs again at once if no transaction was open; in
 * one, the failure is the transaction's like any other, and the text is prepared afresh later.
 */
export function preparingPool(pool: pg.Pool): PostgresPool {
  const clients = new WeakMap<pg.PoolClient, PostgresPoolClient>();
  return {
    // What kysely's query cancellation opens its control connection with.
    Client: pg.Client as unknown as PostgresPool['Client'],
    options: pool.options,
    async connect() {
      const client = await pool.connect();
      let preparing = clients.get(client);
      if (!preparing) clients.set(client, (preparing = preparingClient(client)));
      return preparing;
    },
    end: () => pool.end(),
  };
}

function preparingClient(client: pg.PoolClient): PostgresPoolClient {
  const names = createStatementNames();
  async function run(text: string, values: unknown[]): Promise<pg.QueryResult> {
    const name = values.length > 0 ? names.nameFor(text) : undefined;
    if (name === undefined) return client.query(text, values);
    // pg keeps the status of the last ReadyForQuery (I: idle, T: in a transaction, E: failed one) on an undocumented field; without it, no retry.
    const idle = (client as { _txStatus?: unknown })._txStatus === 'I';
    try {
      return await client.query({ name, text, values });
    } catch (error) {
      if (!isStaleStatement(error)) throw error;
      names.forget(text);
      if (!idle) throw error;
      // Run again unnamed, which counts as its first run since: the next prepares it under a new name.
      return client.query(text, values);
    }
  }
  return {
    get processID() {
      return (client as { processID?: number }).processID;
    },
    // A cursor (kysely's streaming) is handed on as it is.
    query: ((textOrCursor: string | PostgresCursor<unknown>, values?: ReadonlyArray<unknown>) =>
      typeof textOrCursor === 'string' ? run(textOrCursor, [...(values ?? [])]) : client.query(textOrCursor as unknown as pg.Submittable)) as unknown as PostgresPoolClient['query'],
    release: (destroy?: boolean) => client.release(destroy),
  };
}
