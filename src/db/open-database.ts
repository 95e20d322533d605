import fs from 'node:fs/promises';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PGliteDialect, PostgresDialect, type Transaction } from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import { fromKysely, fromPglite, type Db } from 'pg-boss';
import type { Logger } from 'pino';
import { ConfigError } from '../config/config.ts';
import { onCommit, withCommitHooks } from './commit-hooks.ts';
import { preparingPGlite } from './pglite-prepared-statements.ts';
import { preparingPool } from './prepared-statements.ts';
import type { Database } from './schema.ts';

/** What pg-boss needs of a database (its `db` option and the per-call `db` of `send`), plus a commit hook. */
export interface SqlExecutor extends Db {
  /** Runs `fn` once the next statement run through this executor has committed (see commit-hooks.ts). */
  afterNextCommit?(fn: () => void): void;
}

export type Listener = (payload: string) => void;

/** The one database of a process: kysely for the domain, an executor for pg-boss, LISTEN for wake-ups. */
export interface AppDatabase {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Kysely<Database>;
  readonly jobSql: SqlExecutor;
  /** Subscribes to a NOTIFY channel; the returned function unsubscribes. */
  listen(channel: string, listener: Listener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** PostgreSQL's `preparedStatements` defaults to on (db/prepared-statements.ts). */
export type DatabaseTarget = { kind: 'postgres'; url: string; preparedStatements?: boolean } | { kind: 'pglite'; dataDir: string | 'memory' };

/**
 * pg-boss's statements run inside the caller's transaction (pg-boss's own kysely adapter), so
 * the job commits or rolls back with the row; the statement carries the commit hook, if armed.
 */
export function executorFor(trx: Transaction<Database> | Kysely<Database>): SqlExecutor {
  let armed: (() => void) | undefined;
  const adapter = fromKysely({
    executeQuery: (query) => {
      if (armed) onCommit(query, armed);
      armed = undefined;
      return trx.executeQuery(query);
    },
  });
  return {
    executeSql: (text, values) => adapter.executeSql(text, values),
    afterNextCommit(fn) {
      armed = fn;
    },
  };
}

export async function openDatabase(target: DatabaseTarget, logger: Logger): Promise<AppDatabase> {
  return target.kind === 'postgres' ? openPostgres(target.url, logger, target.preparedStatements ?? true) : openPGlite(target.dataDir);
}

/**
 * PostgreSQL's default 128 MB of shared buffers is most of an embedded server's memory, held
 * in PGlite's WebAssembly heap once touched and never given back. The embedded database is
 * small and its files are read through the OS page cache anyway, so a smaller pool costs
 * little: measured on a restarted data directory, 330 MB RSS with the default, 195 MB with
 * 16 MB (bench/idle.bench.ts measures the server).
 */
const PGLITE_SHARED_BUFFERS = '32MB';
const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, '-c', `shared_buffers=${PGLITE_SHARED_BUFFERS}`];

/**
 * PGlite is one connection. kysely's dialect knows it (one holder at a time, a transaction
 * through PGlite's own `transaction()`), and PGlite's `query`, `exec` and `listen` wait for an
 * open transaction to end, so pg-boss's adapter and LISTEN can use the instance directly without
 * landing inside someone else's transaction. Both run their statements with parameters as named
 * prepared statements (pglite-prepared-statements.ts), which keeps to the same locks.
 */
async function openPGlite(dataDir: string | 'memory'): Promise<AppDatabase> {
  let pglite: PGlite;
  if (dataDir === 'memory') {
    pglite = await PGlite.create({ startParams: PGLITE_START_PARAMS });
  } else {
    const dir = path.join(dataDir, 'pgdata');
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    pglite = await PGlite.create(dir, { startParams: PGLITE_START_PARAMS });
  }
  const preparing = preparingPGlite(pglite);
  const db = new Kysely<Database>({ dialect: withCommitHooks(new PGliteDialect({ pglite: preparing })) });

  return {
    kind: 'pglite',
    db,
    jobSql: fromPglite(preparing),
    listen: (channel, listener) => pglite.listen(channel, listener),
    // Not `db.destroy()`: kysely's PGlite driver would close the instance itself. We own it, and
    // close it last (after pg-boss and the listeners), before the data directory's lock goes.
    close: () => pglite.close(),
  };
}

async function openPostgres(url: string, logger: Logger, preparedStatements: boolean): Promise<AppDatabase> {
  await probePostgres(url);
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', (error) => logger.error({ err: error }, 'idle PostgreSQL connection failed'));
  // The pool listens for errors only on its idle connections: a connection checked out between
  // two queries (inside a transaction) that the server drops, on a restart or failover, emitted
  // an 'error' nobody handled and the process exited (found by the soak, issue 19). Its next
  // query fails instead, the transaction rolls back, and the pool discards the connection.
  pool.on('connect', (client) => client.on('error', (error) => logger.warn({ err: error }, 'PostgreSQL connection lost; its transaction fails and the pool opens a new one')));
  const db = new Kysely<Database>({ dialect: withCommitHooks(new PostgresDialect({ pool: preparedStatements ? preparingPool(pool) : pool, cursor: Cursor })) });
  const notifications = new PostgresNotifications(url, logger);

  return {
    kind: 'postgres',
    db,
    jobSql: { executeSql: (text, values) => pool.query(text, values) },
    listen: (channel, listener) => notifications.listen(channel, listener),
    async close() {
      await notifications.close();
      await db.destroy();
    },
  };
}

/**
 * A server that accepts the TCP connection and never answers (a firewall, a wrong port) would
 * hold start-up forever: the first connection gets this long. The pool itself keeps no
 * timeout, since under load a caller waiting for a free connection is not a failure.
 */
const CONNECT_TIMEOUT_MS = 3_000;

/** SQLSTATEs that mean DATABASE_URL itself is wrong (retrying will not help), with what to fix. */
const SETTING_ERRORS: Record<string, string> = {
  '28P01': 'check the user and password',
  '28000': 'check the user name, or allow it in pg_hba.conf',
  '3D000': 'create the database or fix its name',
};

/**
 * Says plainly why the database cannot be used, in one line that names DATABASE_URL but not
 * its password, rather than let the first migration fail obscurely. A wrong password, user or
 * database name, or a host that does not resolve is a ConfigError (exit 2); an unreachable or
 * silent server is a plain Error (exit 1): it may come up.
 */
async function probePostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const password = safeUrl(url)?.password;
    const said = password ? message.split(decodeURIComponent(password)).join('***') : message;
    const where = describeUrl(url);
    const setting = code ? SETTING_ERRORS[code] : undefined;
    if (setting) throw new ConfigError(`DATABASE_URL: the PostgreSQL server at ${where} refused the connection: ${said}; ${setting}`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') throw new ConfigError(`DATABASE_URL: the host of ${where} does not resolve (${code})`);
    const reason = /timeout/i.test(said) ? `no answer within ${CONNECT_TIMEOUT_MS / 1000} s (${said})` : said || (code ?? 'unknown error');
    throw new Error(`cannot connect to the PostgreSQL database in DATABASE_URL: ${reason} (${where})`, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}

const safeUrl = (url: string): URL | undefined => {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
};

/** `user@host:port/database`, never the password. */
function describeUrl(url: string): string {
  const parsed = safeUrl(url);
  if (!parsed) return 'an unparsable URL';
  return `${parsed.username ? `${decodeURIComponent(parsed.username)}@` : ''}${parsed.host}${parsed.pathname}`;
}

/**
 * One dedicated connection for LISTEN, shared by every subscriber of the process; it
 * reconnects after a failure so long polls keep waking when another instance decides.
 */
class PostgresNotifications {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private readonly listeners = new Map<string, Set<Listener>>();
  private closed = false;
  private readonly url: string;
  private readonly logger: Logger;

  constructor(url: string, logger: Logger) {
    this.url = url;
    this.logger = logger;
  }

  async listen(channel: string, listener: Listener): Promise<() => Promise<void>> {
    let set = this.listeners.get(channel);
    const client = await this.connect();
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
      await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    }
    set.add(listener);
    return async () => {
      set.delete(listener);
    };
  }

  private connect(): Promise<pg.Client> {
    if (this.client) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const client = new pg.Client({ connectionString: this.url });
      client.on('notification', (message) => {
        for (const listener of this.listeners.get(message.channel) ?? []) listener(message.payload ?? '');
      });
      client.on('error', (error) => {
        this.logger.warn({ err: error }, 'LISTEN connection lost; reconnecting');
        this.client = undefined;
        this.connecting = undefined;
        if (!this.closed) setTimeout(() => void this.resubscribe(), 1000).unref();
      });
      await client.connect();
      this.client = client;
      return client;
    })().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async resubscribe(): Promise<void> {
    try {
      const client = await this.connect();
      for (const channel of this.listeners.keys()) await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      // A decision may have landed while the connection was down: wake everyone to re-read.
      for (const set of this.listeners.values()) for (const listener of set) listener('');
    } catch (error) {
      this.logger.warn({ err: error }, 'LISTEN reconnect failed; retrying');
      if (!this.closed) setTimeout(() => void this.resubscribe(), 1000).unref();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
  }
}
