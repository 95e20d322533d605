import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { signCheckpointLink } from './checkpoint-link.ts';
import { signCheckpoint } from './checkpoint-note.ts';
import { emptyRoot } from './merkle-tree.ts';
import { readCompactRange } from './read-compact-range.ts';
import type { Signer } from '../primitives/signing-key.ts';

export interface CheckpointSummary {
  treeSize: number;
  rootHash: string;
  note: string;
  /** 1 for the log's first checkpoint, and so on. */
  number: number;
}

/** Advisory lock key (two int4s, apart from pg-boss's one-bigint keys): one checkpoint writer at a time across instances. */
const CHECKPOINT_LOCK = sql`pg_advisory_xact_lock(1129534292, 2)`;

/**
 * Signs a checkpoint over every committed record, unless the latest checkpoint already
 * covers them. The tree is continued from the latest checkpoint's compact range, so only
 * the records since are read. Appends commit in sequence order (the head lock is held to
 * commit), so the committed head names a gapless prefix. Each checkpoint is numbered and
 * linked to the one before (checkpoint-link.ts), and the head counts them.
 */
export async function writeCheckpoint(db: Kysely<Database>, signer: Signer): Promise<CheckpointSummary | undefined> {
  return db.transaction().execute(async (trx) => {
    await sql`select ${CHECKPOINT_LOCK}`.execute(trx);
    const head = await trx.selectFrom('audit_head').select(['origin', 'seq', 'checkpoints']).executeTakeFirstOrThrow();
    const size = Number(head.seq);
    const last = await trx.selectFrom('audit_checkpoints').select(['tree_size', 'root_hash']).orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
    const from = last ? Number(last.tree_size) : 0;
    if (size <= from) return undefined;

    const range = await readCompactRange(trx, size);
    const root = range.root();
    const note = signCheckpoint({ origin: head.origin, size, root }, signer);
    const rootHash = root.toString('hex');
    const number = Number(head.checkpoints) + 1;
    const previous = last ? { treeSize: from, root: Buffer.from(last.root_hash, 'hex') } : { treeSize: 0, root: emptyRoot() };
    const link = signCheckpointLink(head.origin, { number, treeSize: size, root, previous }, signer);
    await trx
      .insertInto('audit_checkpoints')
      .values({ tree_size: size, root_hash: rootHash, note, key_id: signer.keyId, compact_range: JSON.stringify(range.hashes().map((h) => h.toString('hex'))), number, link })
      .execute();
    // Last, so the head's row lock (which appends also take) is held only to commit.
    await trx.updateTable('audit_head').set({ checkpoints: number }).where('id', '=', true).execute();
    return { treeSize: size, rootHash, note, number };
  });
}
