import { PGliteAdapter, sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { AuditRecord } from './audit-record.ts';
import type { AuditAnchor, AuditLogSnapshot } from './verify-audit-log.ts';

const PAGE = 5000;
// A chunk's rows are what this thread holds at a time: few enough to die young, enough that the round trips cost nothing to speak of.
const CHUNK = 1000;

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

/** Records per statement, and (PostgreSQL) per read of its rows. */
export interface ReadSizes {
  page: number;
  chunk: number;
}

/**
 * Records with `after < seq <= through`, a statement per page by sequence number (on
 * PostgreSQL a statement holds its snapshot, and one over a whole long log would hold back
 * vacuum everywhere for minutes), handed on in batches. Where the database runs decides how
 * a page travels; both ways keep what this thread holds small and short-lived: a record kept
 * across a young-generation collection is copied by it, and one kept across two is promoted
 * and copied again.
 *
 * PostgreSQL runs in a process of its own on the same cores. A page is streamed through a
 * cursor in chunks (kysely's `stream`, pg-cursor) on one connection held for the whole read,
 * each chunk's rows becoming its records in place and garbage once checked. Read whole (the
 * next page read ahead, two pages held), reading cost this thread 8.5 µs a record against
 * 6.3-7.5, its collections five times as much, and a million-record verify peaked at 389 MB
 * against 285 (issue 21). Plain rows rather than JSON built by the database: building that
 * text (json_build_array per row, json_agg sorting them) was most of its backend's work, 5-7
 * µs a record against 2-3.
 *
 * PGlite runs in this process and decodes each column of each row in JavaScript on this thread:
 * one JSON text per page took 30 µs of CPU per record against 55. The next page is asked for
 * before this one is handed on, kept as its text and parsed only when taken.
 *
 * The values are the same either way (test/integration/read-audit-records.test.ts): jsonb
 * columns as the same JSON, the time read as `Date` reads it (which keeps milliseconds, as
 * pg's parser does).
 */
export async function* readAuditRecords(db: Kysely<Database>, after: number, through: number, sizes: ReadSizes = { page: PAGE, chunk: CHUNK }): AsyncGenerator<AuditRecord[]> {
  if (after >= through) return;
  // The dialect's adapter is what tells the two apart, in a transaction as well (kysely marks getExecutor internal, but it is typed and stable).
  yield* db.getExecutor().adapter instanceof PGliteAdapter ? jsonPages(db, after, through, sizes.page) : onOneConnection(db, (one) => streamedPages(one, after, through, sizes));
}

/**
 * Runs `read` on one connection held until it ends. kysely gives a streamed statement's
 * connection back a few ticks after its last row, by when the next page's statement had
 * taken another: two connections took turns and the pool replaced one every ten seconds of
 * a long verify, each new backend preparing its statements again.
 */
async function* onOneConnection<T>(db: Kysely<Database>, read: (one: Kysely<Database>) => AsyncGenerator<T>): AsyncGenerator<T> {
  if (db.isTransaction) return yield* read(db);
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let held: Promise<void> = Promise.resolve();
  const one = await new Promise<Kysely<Database>>((resolve, reject) => {
    held = db.connection().execute(async (connection) => {
      resolve(connection);
      await released;
    });
    held.catch(reject);
  });
  try {
    yield* read(one);
  } finally {
    release();
    await held;
  }
}

async function* streamedPages(db: Kysely<Database>, after: number, through: number, { page, chunk }: ReadSizes): AsyncGenerator<AuditRecord[]> {
  for (let from = after; from < through; ) {
    const query = sql<StoredRecord>`
      select seq, to_json(time) as time, approval_id as "approvalId", event, actor, data, prev_hash as "prevHash", key_id as "keyId", hash, signature
      from audit_records where seq > ${from} and seq <= ${through} order by seq limit ${page}`.compile(db);
    let count = 0;
    for await (const { rows } of db.getExecutor().stream(query, chunk)) {
      count += rows.length;
      const records = inPlace(rows);
      from = records.at(-1)!.seq;
      yield records;
    }
    if (count < page) return;
  }
}

/** The rows as records: named and ordered as a record's fields (an export writes them in this order), so each becomes its record in place. */
function inPlace(rows: StoredRecord[]): AuditRecord[] {
  for (const row of rows) {
    row.seq = Number(row.seq);
    row.time = isoTime(row.time);
  }
  return rows as AuditRecord[];
}

async function* jsonPages(db: Kysely<Database>, after: number, through: number, page: number): AsyncGenerator<AuditRecord[]> {
  let next: Promise<JsonPage> | undefined = jsonPage(db, after, through, page);
  try {
    while (next) {
      const { records, last, count } = await next;
      next = undefined;
      if (count === 0) return;
      if (count === page && last < through) next = jsonPage(db, last, through, page);
      yield records();
    }
  } finally {
    // The caller stopped early (a failure found): the page asked for is not wanted, and its error is no one's.
    next?.catch(() => undefined);
  }
}

interface JsonPage {
  records: () => AuditRecord[];
  last: number;
  count: number;
}

/** A page as one JSON text (an array of rows), parsed when taken. */
async function jsonPage(db: Kysely<Database>, from: number, through: number, page: number): Promise<JsonPage> {
  const { rows } = await sql<{ page: string | null; last: string | number | null; count: string | number }>`
    select json_agg(json_build_array(seq, time, approval_id, event, actor, data, prev_hash, hash, signature, key_id) order by seq)::text as page, max(seq) as last, count(*) as count
    from (select * from audit_records where seq > ${from} and seq <= ${through} order by seq limit ${page}) as records`.execute(db);
  const row = rows[0];
  const text = row?.page ?? null;
  return { records: () => (text === null ? [] : (JSON.parse(text) as PageRow[]).map(fromPageRow)), last: Number(row?.last ?? from), count: text === null ? 0 : Number(row?.count ?? 0) };
}

/** A row as `streamedPages` reads it: a record but for its sequence number (bigint, a string until converted). */
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
