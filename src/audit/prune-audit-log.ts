import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { AuditLog } from './audit-log.ts';
import type { AuditActor } from './audit-record.ts';

export interface PruneResult {
  cutoff: string;
  /** Records up to this sequence number are gone; null when nothing could be pruned. */
  anchorTreeSize: number | null;
  deleted: number;
}

/**
 * Deletes the oldest records — all older than `olderThanMs` — up to the latest signed
 * checkpoint that lies entirely before the cutoff. That checkpoint becomes the anchor:
 * its compact range is kept, so the retained records still verify against it and every
 * later checkpoint (the tree itself never changes). The prune is itself audited, in the
 * same transaction, naming the anchor; verify refuses an anchor no such record names.
 */
export async function pruneAuditLog(db: Kysely<Database>, audit: Pick<AuditLog, 'appendNow' | 'flush'>, options: { olderThanMs: number; now: Date; actor: AuditActor }): Promise<PruneResult> {
  const cutoff = new Date(options.now.getTime() - options.olderThanMs);
  await audit.flush();
  return db.transaction().execute(async (trx) => {
    const current = await trx.selectFrom('audit_anchors').select('tree_size').orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
    const currentSize = current ? Number(current.tree_size) : 0;
    // Every record before the first one at or after the cutoff is older than it.
    const firstKept = await trx.selectFrom('audit_records').select('seq').where('time', '>=', cutoff).orderBy('seq').limit(1).executeTakeFirst();
    const anchor = await trx
      .selectFrom('audit_checkpoints')
      .select(['tree_size', 'root_hash', 'compact_range'])
      .where('tree_size', '>', currentSize)
      .$if(firstKept !== undefined, (q) => q.where('tree_size', '<', firstKept!.seq))
      .orderBy('tree_size', 'desc')
      .limit(1)
      .executeTakeFirst();

    let deleted = 0;
    const anchorTreeSize = anchor ? Number(anchor.tree_size) : null;
    if (anchor) {
      await trx.insertInto('audit_anchors').values({ tree_size: anchorTreeSize!, root_hash: anchor.root_hash, compact_range: JSON.stringify(anchor.compact_range) }).execute();
      // The triggers let this transaction delete what the new anchor covers, nothing else.
      await sql`select set_config('countersign.audit_prune', 'on', true)`.execute(trx);
      const result = await trx.deleteFrom('audit_records').where('seq', '<=', anchorTreeSize!).executeTakeFirst();
      deleted = Number(result.numDeletedRows);
      await sql`select set_config('countersign.audit_prune', 'off', true)`.execute(trx);
    }
    await audit.appendNow(trx, {
      event: 'audit.pruned',
      actor: options.actor,
      data: {
        olderThanMs: options.olderThanMs,
        cutoff: cutoff.toISOString(),
        deleted,
        anchor: anchor ? { treeSize: anchorTreeSize, rootHash: anchor.root_hash } : null,
      },
    });
    return { cutoff: cutoff.toISOString(), anchorTreeSize, deleted };
  });
}
