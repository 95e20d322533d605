import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { AuditRecord } from './audit-record.ts';
import type { AuditAnchor, AuditLogSnapshot } from './verify-audit-log.ts';

const PAGE = 5000;

type RecordRow = {
  seq: string | number;
  time: Date;
  approval_id: string | null;
  event: string;
  actor: AuditRecord['actor'];
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
  signature: string;
  key_id: string;
};

export const toAuditRecord = (row: RecordRow): AuditRecord => ({
  seq: Number(row.seq),
  time: row.time.toISOString(),
  approvalId: row.approval_id,
  event: row.event,
  actor: row.actor,
  data: row.data,
  prevHash: row.prev_hash,
  keyId: row.key_id,
  hash: row.hash,
  signature: row.signature,
});

/**
 * Records with `after < seq <= through`, in pages by sequence number (no long-held cursor).
 * The next page is asked for before this one is handed on, so the database reads it while
 * the caller checks this one (PostgreSQL does so in its own process); at most two pages are
 * held at a time.
 */
export async function* readAuditRecords(db: Kysely<Database>, after: number, through: number): AsyncGenerator<AuditRecord[]> {
  const page = (from: number) => db.selectFrom('audit_records').selectAll().where('seq', '>', from).where('seq', '<=', through).orderBy('seq').limit(PAGE).execute();
  if (after >= through) return;
  let next: Promise<RecordRow[]> | undefined = page(after);
  try {
    while (next) {
      const rows = await next;
      next = undefined;
      if (rows.length === 0) return;
      const last = Number(rows.at(-1)!.seq);
      if (rows.length === PAGE && last < through) next = page(last);
      yield rows.map(toAuditRecord);
    }
  } finally {
    // The caller stopped early (a failure found): the page asked for is not wanted, and its error is no one's.
    next?.catch(() => undefined);
  }
}

/**
 * The log as stored, bounded by the head read first: appends that land while a verify or
 * an export runs are left for the next one. With `startAt`, the snapshot starts at that
 * anchor instead of the pruned one (an export `--since`).
 */
export async function readAuditSnapshot(db: Kysely<Database>, startAt?: AuditAnchor): Promise<AuditLogSnapshot> {
  // The checkpoint count first: checkpoints signed while this reads only add to what the
  // count promises. Then the checkpoints, before the head: each covers only records
  // committed before it, so none read here can reach past the head read next, and a log
  // cut below one is caught.
  const { checkpoints: checkpointCount } = await db.selectFrom('audit_head').select('checkpoints').executeTakeFirstOrThrow();
  const checkpoints = await db.selectFrom('audit_checkpoints').select(['tree_size', 'note', 'number', 'link']).orderBy('tree_size').execute();
  const head = await db.selectFrom('audit_head').select(['origin', 'seq', 'hash']).executeTakeFirstOrThrow();
  const through = Number(head.seq);
  const keys = await db.selectFrom('audit_signing_keys').select(['key_id', 'public_key']).orderBy('created_at').execute();
  const anchor = startAt ?? (await latestAnchor(db));
  return {
    origin: head.origin,
    keys: keys.map((k) => ({ keyId: k.key_id, publicKey: k.public_key })),
    anchor,
    checkpoints: checkpoints.map((c) => ({ treeSize: Number(c.tree_size), note: c.note, number: c.number === null ? null : Number(c.number), link: c.link })),
    checkpointCount: Number(checkpointCount),
    head: { seq: through, hash: head.hash },
    records: readAuditRecords(db, anchor?.treeSize ?? 0, through),
  };
}

export async function latestAnchor(db: Kysely<Database>): Promise<AuditAnchor | undefined> {
  const row = await db.selectFrom('audit_anchors').select(['tree_size', 'compact_range']).orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
  return row && { treeSize: Number(row.tree_size), compactRange: row.compact_range, reason: 'pruned' };
}
