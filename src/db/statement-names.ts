/**
 * Named prepared statements per connection, at most this many: PgBouncer's default
 * `max_prepared_statements` (a pooler in front keeps them per server connection), and a bound
 * on what a connection holds on the server should some code build ever-new statement texts.
 * The statements a connection meets first are its hot ones; later ones run unnamed.
 */
export const PREPARED_PER_CONNECTION = 200;

/** Texts a connection has run once, remembered so that a statement is prepared on its second run: one run once never takes a place. */
const SEEN_ONCE_LIMIT = 256;

/**
 * Which statement texts one connection runs as named prepared statements, and under which
 * names: a text is named on its second run (one built for a single use takes no place), up to
 * {@link PREPARED_PER_CONNECTION}; only statements with parameters are asked about (BEGIN,
 * COMMIT, DDL and multi-statement text stay unnamed). The PostgreSQL pool
 * (prepared-statements.ts) and the embedded PGlite (pglite-prepared-statements.ts) both name by it.
 */
export interface StatementNames {
  /** The name `text` runs under, or undefined to run it unnamed (its first run, or the connection is full). */
  nameFor(text: string): string | undefined;
  /** `text`'s statement is gone or stale on the server: its next run is unnamed, and the one after prepares it afresh. */
  forget(text: string): void;
}

export function createStatementNames(): StatementNames {
  const names = new Map<string, string>();
  const seenOnce = new Set<string>();
  let prepared = 0;
  const rememberOnce = (text: string) => {
    if (seenOnce.size >= SEEN_ONCE_LIMIT) seenOnce.clear();
    seenOnce.add(text);
  };
  return {
    nameFor(text) {
      let name = names.get(text);
      if (name !== undefined || prepared >= PREPARED_PER_CONNECTION) return name;
      if (!seenOnce.delete(text)) {
        rememberOnce(text);
        return undefined;
      }
      names.set(text, (name = `countersign_${++prepared}`));
      return name;
    },
    forget(text) {
      names.delete(text);
      rememberOnce(text);
    },
  };
}

/**
 * A named statement the server no longer holds as the client prepared it: a table it reads
 * changed shape ("cached plan must not change result type"), or it is gone (a pooler's `DISCARD ALL`).
 */
export function isStaleStatement(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === '26000' || (code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type'));
}
