import { parse, protocol, type messages, type PGlite, type Results, type Transaction } from '@electric-sql/pglite';
import type { PGliteDialectConfig, PGliteQueryOptions, PGliteTransaction } from 'kysely';
import { createStatementNames, isStaleStatement } from './statement-names.ts';

/** What kysely's PGlite dialect and pg-boss's PGlite adapter call on the instance. */
export interface PreparingPGlite extends Exclude<PGliteDialectConfig['pglite'], (...args: never[]) => unknown> {
  exec: PGlite['exec'];
  listen: PGlite['listen'];
}

const { serialize } = protocol;
type RowDescriptionMessage = messages.RowDescriptionMessage;

/** Frontend messages as one buffer: PGlite runs every message in a buffer in one call into its WebAssembly. */
function batch(...messages: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(messages.reduce((size, message) => size + message.length, 0));
  let at = 0;
  for (const message of messages) {
    out.set(message, at);
    at += message.length;
  }
  return out;
}

/**
 * `error` without the statement's parameter values, which PGlite's `query` attaches to the
 * errors it throws (`params`, beside `query`): a key's hash or a webhook secret would otherwise
 * reach the logs with any failure logged (pino writes an error's own properties). pg's errors
 * on PostgreSQL carry no values either.
 */
function withoutValues(error: unknown): unknown {
  if (error && typeof error === 'object') {
    for (const key of ['params', 'queryOptions']) if (key in error) delete (error as Record<string, unknown>)[key];
  }
  return error;
}

/**
 * The PGlite instance as kysely and pg-boss use it, running each statement that has parameters
 * as a named prepared statement, as the PostgreSQL pool does (prepared-statements.ts, named by
 * statement-names.ts). PGlite's own `query` parses and plans every statement afresh and makes
 * six calls into its WebAssembly for it (parse, describe, bind, describe, execute, sync); a
 * named one is planned and described once, and each run is one call (bind, execute, sync in
 * one buffer). The row lock of a decision (its approval with the mapping, people and votes) cost
 * 1.9–2.0 ms unnamed and 0.7–0.8 ms named, in a transaction, on the callback bench's machine;
 * the lock and a `select *` of the approval together, 1.22–1.25 ms with a describe of each run
 * and 0.91–0.99 ms without (issue 21).
 *
 * It takes the same locks PGlite's `query` does, in the same order: the transaction lock
 * outside a transaction (so no statement lands inside someone else's), and the query lock
 * always. Parameters are serialized, and rows parsed, by the instance's own serializers and
 * parsers, for the types the server described: the same values `query` gives.
 *
 * Statements without parameters, and calls with options other than kysely's row mode, go to
 * PGlite's `query` as they are (and their errors lose the values PGlite attaches to them). A statement gone stale (a migration in this process changed the
 * shape of a table it reads with `*`) is forgotten and, outside a transaction, run again at
 * once; inside one, the failure is the transaction's, and the text is prepared afresh later.
 */
export function preparingPGlite(pglite: PGlite): PreparingPGlite {
  const names = createStatementNames();
  /** What the server described of each statement prepared, by name: its parameters' types, and its rows' fields (none when it returns no rows). */
  const described = new Map<string, { types: number[]; rows: RowDescriptionMessage | undefined }>();

  const nameFor = (text: string, params: readonly unknown[] | undefined, options: PGliteQueryOptions | undefined): string | undefined =>
    params && params.length > 0 && (options === undefined || Object.keys(options).every((key) => key === 'rowMode' && options.rowMode === 'object')) ? names.nameFor(text) : undefined;

  /** Runs `text` as the statement `name`, preparing it first if it is new; the caller holds PGlite's query lock. */
  async function runNamed<T>(name: string, text: string, params: readonly unknown[]): Promise<Results<T>> {
    let statement = described.get(name);
    if (!statement) {
      const { messages } = await pglite.execProtocol(batch(serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync()), { syncToFs: false });
      statement = { types: parse.parseDescribeStatementResults(messages), rows: messages.find((message): message is RowDescriptionMessage => message.name === 'rowDescription') };
      described.set(name, statement);
    }
    const { types, rows } = statement;
    const values = params.map((value, i) => {
      if (value === null || value === undefined) return null;
      const serializer = pglite.serializers[types[i]!];
      return serializer ? serializer(value) : String(value);
    });
    // No describe of each run's portal: its fields are the statement's, described once (a table
    // changing shape under it fails the run as stale rather than answer other fields).
    const { messages } = await pglite.execProtocol(batch(serialize.bind({ statement: name, values: values as string[] }), serialize.execute({}), serialize.sync()), { syncToFs: false });
    return parse.parseResults(rows ? [rows, ...messages] : messages, pglite.parsers)[0] as Results<T>;
  }

  /** A statement's failure, with its text forgotten when it was for the named statement's sake (failed to prepare, or stale). */
  const failed = (name: string, text: string, error: unknown): unknown => {
    if (!described.has(name) || isStaleStatement(error)) {
      described.delete(name);
      names.forget(text);
    }
    return error;
  };

  const unnamed = <T>(text: string, params: unknown[] | undefined, options: PGliteQueryOptions | undefined) =>
    pglite.query<T>(text, params, options).catch((error: unknown) => Promise.reject(withoutValues(error)));

  const transactionQuery =
    (tx: Transaction): PGliteTransaction['query'] =>
    async <T>(text: string, params?: unknown[], options?: PGliteQueryOptions) => {
      const name = nameFor(text, params, options);
      if (name === undefined) return tx.query<T>(text, params, options).catch((error: unknown) => Promise.reject(withoutValues(error)));
      if (tx.closed) throw new Error('Transaction is closed');
      try {
        return await pglite._runExclusiveQuery(() => runNamed<T>(name, text, params!));
      } catch (error) {
        throw failed(name, text, error);
      }
    };

  return {
    get closed() {
      return pglite.closed;
    },
    get ready() {
      return pglite.ready;
    },
    get waitReady() {
      return pglite.waitReady;
    },
    close: () => pglite.close(),
    exec: (text, options) => pglite.exec(text, options),
    listen: (channel, callback, tx) => pglite.listen(channel, callback, tx),
    transaction: (callback) => pglite.transaction((tx) => callback({ query: transactionQuery(tx), rollback: () => tx.rollback() })),
    async query<T>(text: string, params?: unknown[], options?: PGliteQueryOptions) {
      const name = nameFor(text, params, options);
      if (name === undefined) return unnamed<T>(text, params, options);
      try {
        return await pglite._runExclusiveTransaction(() =>
          pglite._runExclusiveQuery(async () => {
            const result = await runNamed<T>(name, text, params!);
            await pglite.syncToFs();
            return result;
          }),
        );
      } catch (error) {
        const stale = isStaleStatement(error);
        failed(name, text, error);
        if (!stale) throw error;
        return unnamed<T>(text, params, options);
      }
    },
  };
}
