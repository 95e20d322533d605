import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { createCompactRange, leafHash, type CompactRange } from './merkle-tree.ts';

const PAGE = 10_000;

/**
 * The tree's right edge over the first `size` records, continued from the latest signed
 * checkpoint at or below `size` (so only the records since are read, and a pruned log
 * still has one: its anchor is such a checkpoint). Throws naming the first missing record.
 */
export async function readCompactRange(db: Kysely<Database>, size: number): Promise<CompactRange> {
  const base = await db.selectFrom('audit_checkpoints').select(['tree_size', 'compact_range']).where('tree_size', '<=', size).orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
  const from = base ? Number(base.tree_size) : 0;
  const range = createCompactRange(from, (base?.compact_range ?? []).map((h) => Buffer.from(h, 'hex')));
  for (let after = from; after < size; after += PAGE) {
    const rows = await db
      .selectFrom('audit_records')
      .select(['seq', 'hash'])
      .where('seq', '>', after)
      .where('seq', '<=', Math.min(after + PAGE, size))
      .orderBy('seq')
      .execute();
    for (const [i, row] of rows.entries()) {
      if (Number(row.seq) !== after + i + 1) throw new Error(`audit record ${after + i + 1} is missing; not signing over a broken log (run countersign audit verify)`);
      range.append(leafHash(Buffer.from(row.hash, 'hex')));
    }
  }
  if (range.size !== size) throw new Error(`audit records ${range.size + 1}..${size} are missing; not signing over a broken log (run countersign audit verify)`);
  return range;
}
