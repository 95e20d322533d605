import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { signCheckpoint } from './checkpoint-note.ts';
import { createCompactRange, leafHash } from './merkle-tree.ts';
import type { Signer } from './signing-key.ts';

export interface CheckpointSummary {
  treeSize: number;
  rootHash: string;
  note: string;
}

/** Advisory lock key (two int4s, apart from pg-boss's one-bigint keys): one checkpoint writer at a time across instances. */
const CHECKPOINT_LOCK = sql`pg_advisory_xact_lock(1129534292, 2)`;
const PAGE = 10_000;

/**
 * Signs a checkpoint over every committed record, unless the latest checkpoint already
 * covers them. The tree is continued from the latest checkpoint's compact range, so only
 * the records since are read. Appends commit in sequence order (the head lock is held to
 * commit), so the committed head names a gapless prefix.
 */
export async function writeCheckpoint(db: Kysely<Database>, signer: Signer): Promise<CheckpointSummary | undefined> {
  return db.transaction().execute(async (trx) => {
    await sql`select ${CHECKPOINT_LOCK}`.execute(trx);
    const head = await trx.selectFrom('audit_head').select(['origin', 'seq']).executeTakeFirstOrThrow();
    const size = Number(head.seq);
    const last = await trx.selectFrom('audit_checkpoints').select(['tree_size', 'compact_range']).orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
    const from = last ? Number(last.tree_size) : 0;
    if (size <= from) return undefined;

    const range = createCompactRange(from, (last?.compact_range ?? []).map((h) => Buffer.from(h, 'hex')));
    for (let after = from; after < size; after += PAGE) {
      const rows = await trx
        .selectFrom('audit_records')
        .select(['seq', 'hash'])
        .where('seq', '>', after)
        .where('seq', '<=', Math.min(after + PAGE, size))
        .orderBy('seq')
        .execute();
      for (const [i, row] of rows.entries()) {
        if (Number(row.seq) !== after + i + 1) throw new Error(`audit record ${after + i + 1} is missing; not signing a checkpoint over a broken log (run countersign audit verify)`);
        range.append(leafHash(Buffer.from(row.hash, 'hex')));
      }
    }
    if (range.size !== size) throw new Error(`audit records ${range.size + 1}..${size} are missing; not signing a checkpoint over a broken log (run countersign audit verify)`);
    const root = range.root();
    const note = signCheckpoint({ origin: head.origin, size, root }, signer);
    const rootHash = root.toString('hex');
    await trx
      .insertInto('audit_checkpoints')
      .values({ tree_size: size, root_hash: rootHash, note, key_id: signer.keyId, compact_range: JSON.stringify(range.hashes().map((h) => h.toString('hex'))) })
      .execute();
    return { treeSize: size, rootHash, note };
  });
}
