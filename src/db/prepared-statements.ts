import type { PostgresCursor, PostgresPool, PostgresPoolClient } from 'kysely';
import pg from 'pg';

/**
 * Named prepared statements per connection, at most this many: PgBouncer's default
 * `max_prepared_statements` (a pooler in front keeps them per server connection), and a bound
 * on what a connection holds on the server should some code build ever-new statement texts.
 * The statements a connection meets first are its hot ones; later ones run unnamed.
 */
export const PREPARED_PER_CONNECTION = 200;

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

/** A named statement the server no longer holds as the client prepared it: a table it reads changed shape, or it is gone. */
const isStale = (error: unknown) => {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === '26000' || (code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type'));
};

/** Texts a connection has run once, remembered so that a statement is prepared on its second run: one run once never takes a place. */
const SEEN_ONCE_LIMIT = 256;

function preparingClient(client: pg.PoolClient): PostgresPoolClient {
  const names = new Map<string, string>();
  const seenOnce = new Set<string>();
  let prepared = 0;
  const rememberOnce = (text: string) => {
    if (seenOnce.size >= SEEN_ONCE_LIMIT) seenOnce.clear();
    seenOnce.add(text);
  };
  const nameFor = (text: string): string | undefined => {
    let name = names.get(text);
    if (name !== undefined || prepared >= PREPARED_PER_CONNECTION) return name;
    if (!seenOnce.delete(text)) {
      rememberOnce(text);
      return undefined;
    }
    names.set(text, (name = `countersign_${++prepared}`));
    return name;
  };
  async function run(text: string, values: unknown[]): Promise<pg.QueryResult> {
    const name = values.length > 0 ? nameFor(text) : undefined;
    if (name === undefined) return client.query(text, values);
    // pg keeps the status of the last ReadyForQuery (I: idle, T: in a transaction, E: failed one) on an undocumented field; without it, no retry.
    const idle = (client as { _txStatus?: unknown })._txStatus === 'I';
    try {
      return await client.query({ name, text, values });
    } catch (error) {
      if (!isStale(error)) throw error;
      names.delete(text);
      if (!idle) throw error;
      // Run again unnamed, which counts as its first run since: the next prepares it under a new name.
      rememberOnce(text);
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
