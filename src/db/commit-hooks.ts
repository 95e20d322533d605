import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult, TransactionSettings } from 'kysely';

/**
 * Callbacks that run once a statement is durable: right after it, when it ran outside a
 * transaction; after COMMIT, when inside one; never, when its transaction rolled back.
 * kysely has no commit hook, and pg-boss's `send` runs inside the caller's transaction, so a
 * worker woken at `send` would look before the job is visible. NOTIFY would say it at commit,
 * but PostgreSQL serializes the commits of notifying transactions (see audit-queue.ts), which
 * would put every intake behind one lock.
 */
const pending = new WeakMap<CompiledQuery, () => void>();

/** Runs `fn` once `query` (not yet executed) is committed, on a database opened with `withCommitHooks`. */
export function onCommit(query: CompiledQuery, fn: () => void): void {
  pending.set(query, fn);
}

/** The dialect, with a driver that runs `onCommit` callbacks. */
export function withCommitHooks(dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver: () => new CommitHookDriver(dialect.createDriver()),
  };
}

/** A connection that remembers the callbacks of the statements its open transaction ran. */
class HookedConnection implements DatabaseConnection {
  readonly inner: DatabaseConnection;
  inTransaction = false;
  waiting: (() => void)[] = [];

  constructor(inner: DatabaseConnection) {
    this.inner = inner;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.inner.executeQuery<R>(query);
    const fn = pending.get(query);
    if (fn) {
      pending.delete(query);
      if (this.inTransaction) this.waiting.push(fn);
      else fn();
    }
    return result;
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }

  /** Ends the transaction: the callbacks run only when it committed. */
  settle(committed: boolean): void {
    const waiting = this.waiting;
    this.inTransaction = false;
    this.waiting = [];
    if (committed) for (const fn of waiting) fn();
  }
}

class CommitHookDriver implements Driver {
  private readonly inner: Driver;
  private readonly wrapped = new WeakMap<DatabaseConnection, HookedConnection>();

  constructor(inner: Driver) {
    this.inner = inner;
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.inner.acquireConnection();
    let hooked = this.wrapped.get(connection);
    if (!hooked) {
      hooked = new HookedConnection(connection);
      this.wrapped.set(connection, hooked);
    }
    return hooked;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const hooked = connection as HookedConnection;
    await this.inner.beginTransaction(hooked.inner, settings);
    hooked.inTransaction = true;
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const hooked = connection as HookedConnection;
    try {
      await this.inner.commitTransaction(hooked.inner);
    } catch (error) {
      hooked.settle(false);
      throw error;
    }
    hooked.settle(true);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const hooked = connection as HookedConnection;
    hooked.settle(false);
    await this.inner.rollbackTransaction(hooked.inner);
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.inner.releaseConnection((connection as HookedConnection).inner);
  }

  destroy(): Promise<void> {
    return this.inner.destroy();
  }
}
