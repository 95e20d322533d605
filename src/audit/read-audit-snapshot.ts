import { PGliteAdapter, sql, type Kysely } from 'kysely';
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
 * held at a time. PGlite's page asked for ahead is kept as its text and parsed only when the
 * caller takes it, so its records are garbage by the time the caller waits again (kept parsed
 * meanwhile, they were copied by every young-generation collection until promoted).
 *
 * The form of a page depends on where the database runs. PGlite runs in this process and
 * decodes each column of each row in JavaScript on the caller's thread: one JSON text per page
 * took 30 µs of CPU per record against 55. PostgreSQL runs in a process of its own on the same
 * cores, where building that text (json_build_array per row, json_agg sorting them) was most of
 * its work: plain rows take its backend about 2 µs per record against 5-7, and this thread up to
 * 2 µs more than parsing the text (issue 21; bench/audit-verify.bench.ts). The values are the same
 * either way (test/integration/read-audit-records.test.ts): jsonb columns as the same JSON, the
 * time read as `Date` reads it (which keeps milliseconds, as pg's parser does).
 */
export async function* readAuditRecords(db: Kysely<Database>, after: number, through: number): AsyncGenerator<AuditRecord[]> {
  if (after >= through) return;
  // The dialect's adapter is what tells the two apart, in a transaction as well (kysely marks getExecutor internal, but it is typed and stable).
  const page = db.getExecutor().adapter instanceof PGliteAdapter ? jsonPage : rowPage;
  let next: Promise<Page> | undefined = page(db, after, through);
  try {
    while (next) {
      const { records, last, count } = await next;
      next = undefined;
      if (count === 0) return;
      if (count === PAGE && last < through) next = page(db, last, through);
      yield records();
    }
  } finally {
    // The caller stopped early (a failure found): the page asked for is not wanted, and its error is no one's.
    next?.catch(() => undefined);
  }
}

interface Page {
  records: () => AuditRecord[];
  last: number;
  count: number;
}

/** A page as one JSON text (an array of rows), parsed when taken. */
async function jsonPage(db: Kysely<Database>, from: number, through: number): Promise<Page> {
  const { rows } = await sql<{ page: string | null; last: string | number | null; count: string | number }>`
    select json_agg(json_build_array(seq, time, approval_id, event, actor, data, prev_hash, hash, signature, key_id) order by seq)::text as page, max(seq) as last, count(*) as count
    from (select * from audit_records where seq > ${from} and seq <= ${through} order by seq limit ${PAGE}) as records`.execute(db);
  const row = rows[0];
  const text = row?.page ?? null;
  return { records: () => (text === null ? [] : (JSON.parse(text) as PageRow[]).map(fromPageRow)), last: Number(row?.last ?? from), count: text === null ? 0 : Number(row?.count ?? 0) };
}

/**
 * A page as rows, named and ordered as a record's fields so that each row becomes its record in
 * place (an object less per record for the collector; an export writes the fields in this order);
 * the time as JSON writes it (`to_json`), read as a page's text gives it.
 */
async function rowPage(db: Kysely<Database>, from: number, through: number): Promise<Page> {
  const { rows } = await sql<StoredRecord>`
    select seq, to_json(time) as time, approval_id as "approvalId", event, actor, data, prev_hash as "prevHash", key_id as "keyId", hash, signature
    from audit_records where seq > ${from} and seq <= ${through} order by seq limit ${PAGE}`.execute(db);
  const last = rows.at(-1);
  return {
    records() {
      for (const row of rows) {
        row.seq = Number(row.seq);
        row.time = isoTime(row.time);
      }
      return rows as AuditRecord[];
    },
    last: last === undefined ? from : Number(last.seq),
    count: rows.length,
  };
}

/** A row as `rowPage` reads it: a record but for its sequence number (bigint, a string until converted). */
type StoredRecord = Omit<AuditRecord, 'seq'> & { seq: string | number };

type PageRow = [seq: number, time: string, approvalId: string | null, event: string, actor: AuditRecord['actor'], data: Record<string, unknown>, prevHash: string, hash: string, signature: string, keyId: string];

const fromPageRow = ([seq, time, approvalId, event, actor, data, prevHash, hash, signature, keyId]: PageRow): AuditRecord => ({
  seq: Number(seq),
  time: isoTime(time),
  approvalId,
  event,
  actor,
  data,
  prevHash,
  keyId,
  hash,
  signature,
});

/**
 * A UTC time as PostgreSQL writes it in JSON (`2026-12-01T21:47:56.416+00:00`, trailing zeros of
 * the fraction dropped) is rewritten as `Date#toISOString` would give it, by its digits: a
 * tenth of the CPU of parsing it, for every record a verify reads. Any other form (another
 * time zone, microseconds, a year past 9999) goes through Date, which throws for a time no
 * Date can hold (as toISOString does on the row form): verify reports the record unreadable.
 */
const UTC_MILLIS = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,3}))?\+00:00$/;

export function isoTime(time: string): string {
  const utc = UTC_MILLIS.exec(time);
  return utc ? `${utc[1]}.${(utc[2] ?? '').padEnd(3, '0')}Z` : new Date(time).toISOString();
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
