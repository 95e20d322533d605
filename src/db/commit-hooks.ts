import type { AbortableOperationOptions, CompiledQuery, DatabaseConnection, Dialect, Driver, QueryCompiler, QueryId, QueryResult, Transaction, TransactionSettings } from 'kysely';

/**
 * Callbacks that run once a statement is durable: right after it, when it ran outside a
 * transaction; after COMMIT, when inside one; never, when its transaction rolled back.
 * kysely has no commit hook, and pg-boss's `send` runs inside the caller's transaction, so a
 * worker woken at `send` would look before the job is visible. NOTIFY would say it at commit,
 * but PostgreSQL serializes the commits of notifying transactions (see audit-queue.ts), which
 * would put every intake behind one lock.
 */
const pending = new WeakMap<QueryId, Array<() => void>>();

const hold = (queryId: QueryId, fn: () => void) => {
  const fns = pending.get(queryId);
  if (fns) fns.push(fn);
  else pending.set(queryId, [fn]);
};

/** Runs `fn` once `query` (not yet executed) is committed, on a database opened with `withCommitHooks`. */
export function onCommit(query: CompiledQuery, fn: () => void): void {
  hold(query.queryId, fn);
}

/**
 * `trx`, each of whose statements runs `fn` once committed (so `fn` runs once per statement
 * made through it): for a caller that hands `trx` to code that builds and runs the statement
 * itself, as `appendWith`'s `write` does.
 */
export function committing<DB>(trx: Transaction<DB>, fn: () => void): Transaction<DB> {
  return trx.withPlugin({
    transformQuery({ node, queryId }) {
      hold(queryId, fn);
      return node;
    },
    transformResult: async ({ result }) => result,
  });
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
  /** How many callbacks were waiting at each open savepoint: rolling back to one drops the later ones. */
  savepoints = new Map<string, number>();

  constructor(inner: DatabaseConnection) {
    this.inner = inner;
  }

  async executeQuery<R>(query: CompiledQuery, options?: AbortableOperationOptions): Promise<QueryResult<R>> {
    const result = await this.inner.executeQuery<R>(query, options);
    const fns = pending.get(query.queryId);
    if (fns) {
      pending.delete(query.queryId);
      if (this.inTransaction) this.waiting.push(...fns);
      else for (const fn of fns) fn();
    }
    return result;
  }

  streamQuery<R>(query: CompiledQuery, chunkSize: number, options?: AbortableOperationOptions): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize, options);
  }

  /** Ends the transaction: the callbacks run only when it committed. */
  settle(committed: boolean): void {
    const waiting = this.waiting;
    this.inTransaction = false;
    this.waiting = [];
    this.savepoints.clear();
    if (committed) for (const fn of waiting) fn();
  }
}

class CommitHookDriver implements Driver {
  private readonly inner: Driver;
  private readonly wrapped = new WeakMap<DatabaseConnection, HookedConnection>();

  constructor(inner: Driver) {
    this.inner = inner;
  }

  init(options?: AbortableOperationOptions): Promise<void> {
    return this.inner.init(options);
  }

  async acquireConnection(options?: AbortableOperationOptions): Promise<DatabaseConnection> {
    const connection = await this.inner.acquireConnection(options);
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

  async savepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    const hooked = connection as HookedConnection;
    await this.requireSavepoints().savepoint(hooked.inner, name, compileQuery);
    hooked.savepoints.set(name, hooked.waiting.length);
  }

  /** A job sent after the savepoint is rolled back with it: its wake-up goes too. */
  async rollbackToSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    const hooked = connection as HookedConnection;
    await this.requireSavepoints().rollbackToSavepoint(hooked.inner, name, compileQuery);
    hooked.waiting.length = hooked.savepoints.get(name) ?? hooked.waiting.length;
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    const hooked = connection as HookedConnection;
    await this.requireSavepoints().releaseSavepoint(hooked.inner, name, compileQuery);
    hooked.savepoints.delete(name);
  }

  private requireSavepoints(): Required<Pick<Driver, 'savepoint' | 'rollbackToSavepoint' | 'releaseSavepoint'>> {
    const { savepoint, rollbackToSavepoint, releaseSavepoint } = this.inner;
    if (!savepoint || !rollbackToSavepoint || !releaseSavepoint) throw new Error('this database driver does not support savepoints');
    return { savepoint: savepoint.bind(this.inner), rollbackToSavepoint: rollbackToSavepoint.bind(this.inner), releaseSavepoint: releaseSavepoint.bind(this.inner) };
  }

  releaseConnection(connection: DatabaseConnection, options?: AbortableOperationOptions): Promise<void> {
    return this.inner.releaseConnection((connection as HookedConnection).inner, options);
  }

  destroy(options?: AbortableOperationOptions): Promise<void> {
    return this.inner.destroy(options);
  }
}
