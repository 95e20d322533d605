import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../db/schema.ts';
import type { AuditLog } from '../audit-log.ts';
import type { WitnessStore } from './witness-store.ts';

/**
 * Publishes the log's signed checkpoints to its witnesses (AUDIT_WITNESS): every interval and
 * at shutdown it signs a checkpoint over what is new and hands the latest to each witness.
 * A publish goes through `enqueue`, a retried job (start-services.ts wires it to the queue),
 * so a GitHub outage delays a copy and never blocks intake; at shutdown a local witness
 * (a directory) is written at once, since no job may run after the process goes.
 */
export interface WitnessPublisher {
  /** Signs a checkpoint when records are new, and queues the latest for every witness. */
  publishLatest(): Promise<void>;
  /** The job's work: one witness keeps the checkpoint of `treeSize` (idempotent). */
  publish(spec: string, treeSize: number): Promise<void>;
  start(): void;
  /** Stops the timer and publishes a last checkpoint (local witnesses at once, the rest queued). */
  stop(): Promise<void>;
}

export interface WitnessPublisherOptions {
  db: Kysely<Database>;
  audit: Pick<AuditLog, 'flush' | 'checkpoint'>;
  stores: ReadonlyArray<WitnessStore & { local: boolean }>;
  enqueue: (spec: string, treeSize: number) => Promise<void>;
  intervalMs: number;
  logger: Logger;
}

export function createWitnessPublisher(options: WitnessPublisherOptions): WitnessPublisher {
  const { db, audit, stores, logger } = options;
  let timer: NodeJS.Timeout | undefined;
  const bySpec = new Map(stores.map((store) => [store.spec, store]));

  const latest = async () => {
    await audit.flush();
    await audit.checkpoint();
    return db.selectFrom('audit_checkpoints').select(['tree_size', 'note']).orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
  };
  const publishLatest = async () => {
    const checkpoint = await latest();
    if (!checkpoint) return;
    for (const store of stores) await options.enqueue(store.spec, Number(checkpoint.tree_size));
  };

  return {
    publishLatest,
    async publish(spec, treeSize) {
      const store = bySpec.get(spec);
      // A witness since removed from AUDIT_WITNESS: nothing to do for a job queued before.
      if (!store) return;
      const row = await db.selectFrom('audit_checkpoints').select('note').where('tree_size', '=', treeSize).executeTakeFirst();
      if (!row) return;
      await store.publish({ treeSize, note: row.note });
    },
    start() {
      if (stores.length === 0) return;
      const publishInBackground = () => {
        publishLatest().catch((error: unknown) => logger.error({ err: error }, 'queueing checkpoints for the audit witnesses failed; retried at the next interval'));
      };
      timer = setInterval(publishInBackground, options.intervalMs);
      timer.unref();
      // At start too: a witness set up just now holds something at once, not after the first interval.
      publishInBackground();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      if (stores.length === 0) return;
      try {
        const checkpoint = await latest();
        if (!checkpoint) return;
        const treeSize = Number(checkpoint.tree_size);
        for (const store of stores) {
          if (store.local) await store.publish({ treeSize, note: checkpoint.note }).catch((error: unknown) => logger.error({ err: error, witness: store.spec }, 'publishing the last checkpoint to a witness failed'));
          else await options.enqueue(store.spec, treeSize);
        }
      } catch (error) {
        logger.error({ err: error }, 'publishing the last checkpoint to the audit witnesses failed');
      }
    },
  };
}
