import type { Kysely, QueryCreator, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { appendAfterHead, appendAuditRecord, appendAuditRecords, recordsAlone, type ChainHead } from './append-audit-record.ts';
import { committing } from '../db/commit-hooks.ts';
import { INTEGRATE_BATCH, integratePendingAudit, queueAuditEntry, queueAuditEntryWith } from './audit-queue.ts';
import type { AuditEntry, AuditRecord } from './audit-record.ts';
import type { Signer } from '../primitives/signing-key.ts';
import { writeCheckpoint, type CheckpointSummary } from './write-checkpoint.ts';

/**
 * The audit log of a process. A state change queues its entry inside its own transaction
 * (no lock); the integrator of the process that queued it chains queued entries in batches
 * a moment later (and a 1 s sweep catches what other processes left), and signs checkpoints
 * every `checkpointEvery` records, every `checkpointIntervalMs` and at stop. Readers call
 * `flush()` first to see every committed entry.
 *
 * @example
 * await services.db.transaction().execute(async (trx) => {
 *   await trx.updateTable('approvals')…;
 *   await services.audit.append(trx, { event: 'approval.cancelled', approvalId, actor: { kind: 'agent', id: keyId, via: 'api' } });
 * });
 */
export interface AuditLog {
  readonly signer: Signer;
  /** Queues one entry in `trx`: it commits or rolls back with the change it describes; no lock is taken. */
  append(trx: Transaction<Database>, entry: AuditEntry): Promise<void>;
  /**
   * Runs the ONE statement `write` makes with `db` and appends `entry` with it: queued by
   * that same statement when entries are queued (one round trip for both: the intake path),
   * else appended just before. Returns what `write` returns.
   */
  appendWith<R>(trx: Transaction<Database>, entry: AuditEntry, write: (db: QueryCreator<Database>) => Promise<R>): Promise<R>;
  /**
   * `appendWith` for a change that is `write`'s one statement and nothing else, run outside any
   * transaction: that statement alone queues the entry and makes the change, so both commit or
   * neither (saving intake a BEGIN and a COMMIT). Only where entries are queued (PostgreSQL);
   * absent inline (PGlite), which knows its head from the commits of the transactions that moved
   * it (commit hooks), so an inline append wants one.
   */
  readonly appendWithAlone?: <R>(db: Kysely<Database>, entry: AuditEntry, write: (db: QueryCreator<Database>) => Promise<R>) => Promise<R>;
  /** Chains one record in `trx` at once, holding the chain's lock to commit: for rare events (prune) that must be in the chain when they commit. */
  appendNow(trx: Transaction<Database>, entry: AuditEntry): Promise<AuditRecord>;
  /** Chains every entry committed so far (readers, verify, export and tests call it first). */
  flush(): Promise<void>;
  /** Signs a checkpoint over every committed record now (none when nothing is new). */
  checkpoint(): Promise<CheckpointSummary | undefined>;
  /** Registers the signer's public key (audited when new) and, for the server, starts integrating and checkpointing. */
  start(options: { checkpoints: boolean }): Promise<void>;
  /** Chains what is still queued, stops the timers, and signs a last checkpoint when this process checkpoints. */
  stop(): Promise<void>;
}

/** What an audited admin change needs: the database and the log (`Services` has both). */
export interface AuditedDatabase {
  readonly db: Kysely<Database>;
  readonly audit: Pick<AuditLog, 'append'>;
}

export interface AuditLogOptions {
  now: () => Date;
  logger: Logger;
  /**
   * `queued` (PostgreSQL): entries wait in audit_pending and are chained in batches, so
   * concurrent transactions never queue on the chain's head. `inline` (PGlite): transactions
   * already run one at a time on its one connection, so each is chained where it is made.
   */
  mode: 'queued' | 'inline';
  checkpointEvery?: number;
  checkpointIntervalMs?: number;
}

/**
 * How long after an append the integrator runs: long enough to gather a batch under load
 * (each batch is 4 round trips whatever its size), short enough that readers who do not
 * flush, such as a SQL console, see entries chained within a blink.
 */
const INTEGRATE_DELAY_MS = 250;

/** How appendAfterHead's statement fails when the head was not where it was said to be (SQLSTATE). */
const NOT_NULL_VIOLATION = '23502';

export function createAuditLog(db: Kysely<Database>, signer: Signer, options: AuditLogOptions): AuditLog {
  const checkpointEvery = options.checkpointEvery ?? 1000;
  const intervalMs = options.checkpointIntervalMs ?? 60_000;
  let sinceCheckpoint = 0;
  let timer: NodeJS.Timeout | undefined;
  let sweeper: NodeJS.Timeout | undefined;
  let kick: NodeJS.Timeout | undefined;
  let running: Promise<CheckpointSummary | undefined> | undefined;
  let integrating: Promise<void> | undefined;
  let again = false;
  let checkpointing = false;
  // Set by stop(): no timer may reach the database after it is closed.
  let stopped = false;

  const checkpoint = () => {
    // One at a time per process; the advisory lock orders instances.
    running ??= writeCheckpoint(db, signer).finally(() => {
      running = undefined;
    });
    return running;
  };
  const checkpointInBackground = () => {
    sinceCheckpoint = 0;
    checkpoint().catch((error: unknown) => options.logger.error({ err: error }, 'signing an audit checkpoint failed'));
  };

  /** Chains batches until the queue is empty (or another instance is chaining it). */
  const integrate = (): Promise<void> => {
    if (integrating) {
      again = true;
      return integrating;
    }
    integrating = (async () => {
      do {
        again = false;
        for (;;) {
          const chained = await integratePendingAudit(db, signer);
          if (chained > 0) sinceCheckpoint += chained;
          // A batch short of full emptied the queue (of what was committed when it read).
          if (chained < INTEGRATE_BATCH) break;
        }
      } while (again);
      if (checkpointing && sinceCheckpoint >= checkpointEvery) checkpointInBackground();
    })().finally(() => {
      integrating = undefined;
    });
    return integrating;
  };
  const integrateInBackground = () => {
    if (stopped) return;
    integrate().catch((error: unknown) => options.logger.error({ err: error }, 'chaining queued audit entries failed; they stay queued and are retried'));
  };

  // Inline: where the chain ends as this process last committed it, and where each open
  // transaction's own appends have taken it since. Only this process writes the log (the data
  // directory's lock admits one), so the head is known and an append is one statement, which
  // also makes the change it describes when it comes with one (appendWith).
  let committedHead: ChainHead | undefined;
  const openHeads = new WeakMap<Transaction<Database>, ChainHead>();
  const chainInline = async <R>(trx: Transaction<Database>, entry: AuditEntry, write: (db: QueryCreator<Database>) => Promise<R>): Promise<{ record: AuditRecord; result: R }> => {
    const entries = [{ entry, time: options.now() }];
    const head = openHeads.get(trx) ?? committedHead;
    const tracked = committing(trx, () => {
      committedHead = openHeads.get(trx) ?? committedHead;
    });
    let chained: { records: AuditRecord[]; result: R };
    try {
      chained = head ? await appendAfterHead(tracked, signer, head, entries, write) : { records: await appendAuditRecords(tracked, signer, entries), result: await write(trx) };
    } catch (error) {
      // The head may have been moved by someone else (appendAfterHead refused): read it next time.
      committedHead = undefined;
      if (head && (error as { code?: unknown }).code === NOT_NULL_VIOLATION) throw new Error('the audit head moved outside this process; nothing was written, and the next append reads the head again', { cause: error });
      throw error;
    }
    const record = chained.records[0]!;
    openHeads.set(trx, { seq: record.seq, hash: record.hash });
    return { record, result: chained.result };
  };
  const appendInline = async <R>(trx: Transaction<Database>, entry: AuditEntry, write: (db: QueryCreator<Database>) => Promise<R>) => {
    const { result } = await chainInline(trx, entry, write);
    sinceCheckpoint += 1;
    // After the caller's commit, not inside its transaction (PGlite has one connection).
    if (checkpointing && sinceCheckpoint >= checkpointEvery) setImmediate(checkpointInBackground);
    return result;
  };
  /** Once the caller has (most likely) committed; the delay gathers a batch under load. */
  const integrateSoon = () => {
    // After stop, what is queued is chained by the next process to start, or by another instance.
    if (stopped) return;
    kick ??= setTimeout(() => {
      kick = undefined;
      integrateInBackground();
    }, INTEGRATE_DELAY_MS);
  };

  return {
    signer,
    async append(trx, entry) {
      if (options.mode === 'inline') {
        await appendInline(trx, entry, recordsAlone);
        return;
      }
      await queueAuditEntry(trx, entry, options.now());
      integrateSoon();
    },
    async appendWith(trx, entry, write) {
      if (options.mode === 'inline') {
        return appendInline(trx, entry, write);
      }
      const result = await queueAuditEntryWith(trx, entry, options.now(), write);
      integrateSoon();
      return result;
    },
    ...(options.mode === 'queued'
      ? {
          async appendWithAlone<R>(alone: Kysely<Database>, entry: AuditEntry, write: (db: QueryCreator<Database>) => Promise<R>) {
            const result = await queueAuditEntryWith(alone, entry, options.now(), write);
            integrateSoon();
            return result;
          },
        }
      : {}),
    async appendNow(trx, entry) {
      return options.mode === 'inline' ? (await chainInline(trx, entry, recordsAlone)).record : appendAuditRecord(trx, signer, entry, options.now());
    },
    async flush() {
      // Twice: a batch another caller started may have missed entries committed just before this call.
      await integrate();
      await integrate();
    },
    checkpoint,
    async start({ checkpoints }) {
      stopped = false;
      await db.transaction().execute(async (trx) => {
        const added = await trx
          .insertInto('audit_signing_keys')
          .values({ key_id: signer.keyId, public_key: signer.publicKeyPem })
          .onConflict((oc) => oc.doNothing())
          .returning('key_id')
          .executeTakeFirst();
        if (added) {
          await appendAuditRecord(trx, signer, { event: 'audit.signing_key_added', actor: { kind: 'system', id: 'countersign', via: 'startup' }, data: { keyId: signer.keyId, publicKey: signer.publicKeyPem } }, options.now());
        }
      });
      if (checkpoints) {
        checkpointing = true;
        // Chains what other processes queued (the CLI, an instance that died before chaining).
        // Inline, nothing is ever queued: the data directory's lock admits one process, which
        // chains as it goes, and a read a second costs an idle embedded server CPU for nothing.
        if (options.mode === 'queued') {
          sweeper = setInterval(integrateInBackground, 1_000);
          sweeper.unref();
        }
        timer = setInterval(checkpointInBackground, intervalMs);
        timer.unref();
        integrateInBackground();
      }
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      if (sweeper) clearInterval(sweeper);
      if (kick) clearTimeout(kick);
      timer = sweeper = kick = undefined;
      // What this process queued is chained before it goes (the CLI, too).
      await integrate().catch((error: unknown) => options.logger.error({ err: error }, 'chaining queued audit entries at stop failed; they stay queued'));
      if (checkpointing) {
        checkpointing = false;
        await running?.catch(() => undefined);
        await checkpoint().catch((error: unknown) => options.logger.error({ err: error }, 'signing the last audit checkpoint failed'));
      }
      await signer.close();
    },
  };
}
