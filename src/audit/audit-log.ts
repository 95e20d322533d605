import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/schema.ts';
import { appendAuditRecord } from './append-audit-record.ts';
import type { AuditEntry, AuditRecord } from './audit-record.ts';
import type { Signer } from './signing-key.ts';
import { writeCheckpoint, type CheckpointSummary } from './write-checkpoint.ts';

/**
 * The audit log of a process: appends inside callers' transactions, and signs checkpoints
 * every `checkpointEvery` appends of this process, every `checkpointIntervalMs` and at stop.
 *
 * @example
 * await services.db.transaction().execute(async (trx) => {
 *   await trx.updateTable('approvals')…;
 *   await services.audit.append(trx, { event: 'approval.cancelled', approvalId, actor: { kind: 'agent', id: keyId, via: 'api' } });
 * });
 */
export interface AuditLog {
  readonly signer: Signer;
  /** Appends one record in `trx`; call it as the transaction's last statement (it holds the log's lock until commit). */
  append(trx: Transaction<Database>, entry: AuditEntry): Promise<AuditRecord>;
  /** Signs a checkpoint over every committed record now (none when nothing is new). */
  checkpoint(): Promise<CheckpointSummary | undefined>;
  /** Registers the signer's public key (audited when new) and, for the server, starts checkpointing. */
  start(options: { checkpoints: boolean }): Promise<void>;
  /** Stops the timer and signs a last checkpoint when this process checkpoints. */
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
  checkpointEvery?: number;
  checkpointIntervalMs?: number;
}

export function createAuditLog(db: Kysely<Database>, signer: Signer, options: AuditLogOptions): AuditLog {
  const checkpointEvery = options.checkpointEvery ?? 1000;
  const intervalMs = options.checkpointIntervalMs ?? 60_000;
  let sinceCheckpoint = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<CheckpointSummary | undefined> | undefined;
  let checkpointing = false;

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

  return {
    signer,
    async append(trx, entry) {
      const record = await appendAuditRecord(trx, signer, entry, options.now());
      sinceCheckpoint += 1;
      // After the caller's commit, not inside its transaction (PGlite has one connection).
      if (checkpointing && sinceCheckpoint >= checkpointEvery) setImmediate(checkpointInBackground);
      return record;
    },
    checkpoint,
    async start({ checkpoints }) {
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
        timer = setInterval(checkpointInBackground, intervalMs);
        timer.unref();
      }
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (!checkpointing) return;
      checkpointing = false;
      await running?.catch(() => undefined);
      await checkpoint().catch((error: unknown) => options.logger.error({ err: error }, 'signing the last audit checkpoint failed'));
    },
  };
}
