import fs from 'node:fs';
import readline from 'node:readline';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { AuditRecord } from './audit-record.ts';
import { signExportHead } from './export-head.ts';
import { readCompactRange } from './read-compact-range.ts';
import { latestAnchor, readAuditSnapshot } from './read-audit-snapshot.ts';
import type { Signer } from '../primitives/signing-key.ts';
import type { AuditAnchor, AuditLogSnapshot, SnapshotCheckpoint } from './verify-audit-log.ts';

/**
 * The export format, one JSON object per line, in this order so a reader can stream it:
 *
 *     {"type":"log","format":"countersign-audit/2","origin":…,"exportedAt":…,"head":{"seq":…,"hash":…},"signedHead":"<signed note, export-head.ts>"}
 *     {"type":"key","keyId":…,"publicKey":"-----BEGIN PUBLIC KEY-----…"}        every key that ever signed
 *     {"type":"anchor","treeSize":…,"compactRange":[…],"reason":"pruned"|"since"}  when records before it are absent
 *     {"type":"checkpoint","treeSize":…,"note":"<C2SP signed note>","number":…,"link":"<signed note, checkpoint-link.ts>"}
 *     {"type":"record","seq":…,"time":…,"approvalId":…,"event":…,"actor":…,"data":…,"prevHash":…,"keyId":…,"hash":…,"signature":…}
 *
 * `signedHead` says how many records follow, their root, and how many checkpoints there
 * are, so a file cut short or missing a checkpoint line fails verify on its own.
 * Version 1 files (no signed head) are still read, and fail verify for that reason.
 */
export const EXPORT_FORMAT = 'countersign-audit/2';
const READABLE_FORMATS: readonly unknown[] = ['countersign-audit/1', EXPORT_FORMAT];

/**
 * Writes the log as JSONL. With `since`, it starts at the last signed checkpoint before the
 * first record at or after `since`, so the part exported still verifies on its own from a
 * signed anchor (it may hold a few earlier records).
 */
export async function exportAuditLog(db: Kysely<Database>, signer: Signer, write: (text: string) => void | Promise<void>, options: { since?: Date; now?: Date } = {}): Promise<{ records: number }> {
  const startAt = options.since ? await sinceAnchor(db, options.since) : undefined;
  const snapshot = await readAuditSnapshot(db, startAt);
  const exportedAt = (options.now ?? new Date()).toISOString();
  const head = snapshot.head!;
  // Records up to the head are committed and never change, so the root read apart from the snapshot is the snapshot's.
  const root = (await readCompactRange(db, head.seq)).root();
  const checkpoints = Math.max(snapshot.checkpointCount ?? 0, ...snapshot.checkpoints.map((c) => c.number ?? 0));
  const signedHead = signExportHead(snapshot.origin, { exportedAt, start: snapshot.anchor?.treeSize ?? 0, treeSize: head.seq, root, headHash: head.hash, checkpoints }, signer);
  await write(`${JSON.stringify({ type: 'log', format: EXPORT_FORMAT, origin: snapshot.origin, exportedAt, head, signedHead })}\n`);
  for (const key of snapshot.keys) await write(`${JSON.stringify({ type: 'key', ...key })}\n`);
  if (snapshot.anchor) await write(`${JSON.stringify({ type: 'anchor', ...snapshot.anchor })}\n`);
  for (const checkpoint of snapshot.checkpoints) await write(`${JSON.stringify({ type: 'checkpoint', ...checkpoint })}\n`);
  let records = 0;
  for await (const batch of snapshot.records) {
    await write(batch.map((record) => `${JSON.stringify({ type: 'record', ...record })}\n`).join(''));
    records += batch.length;
  }
  return { records };
}

async function sinceAnchor(db: Kysely<Database>, since: Date): Promise<AuditAnchor | undefined> {
  const pruned = await latestAnchor(db);
  const first = await db.selectFrom('audit_records').select('seq').where('time', '>=', since).orderBy('seq').limit(1).executeTakeFirst();
  const checkpoint = await db
    .selectFrom('audit_checkpoints')
    .select(['tree_size', 'compact_range'])
    .$if(first !== undefined, (q) => q.where('tree_size', '<', first!.seq))
    .orderBy('tree_size', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!checkpoint || Number(checkpoint.tree_size) <= (pruned?.treeSize ?? 0)) return undefined;
  return { treeSize: Number(checkpoint.tree_size), compactRange: checkpoint.compact_range, reason: 'since' };
}

/** Reads an export for `verify`, streaming its records; needs no database. Throws naming the line when it is not an export. */
export async function readAuditExport(file: string): Promise<AuditLogSnapshot> {
  const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity })[Symbol.asyncIterator]();
  let lineNumber = 0;
  const parse = (text: string): { type?: unknown } & Record<string, unknown> => {
    try {
      return JSON.parse(text) as { type?: unknown } & Record<string, unknown>;
    } catch {
      throw new Error(`${file}:${lineNumber}: not JSON`);
    }
  };
  const first = await lines.next();
  lineNumber += 1;
  const header = first.done ? undefined : parse(first.value);
  if (header?.type !== 'log' || !READABLE_FORMATS.includes(header.format)) throw new Error(`${file}: not a countersign audit export (the first line must be {"type":"log","format":"${EXPORT_FORMAT}",…})`);

  const snapshot = {
    origin: String(header.origin),
    keys: [] as Array<{ keyId: string; publicKey: string }>,
    anchor: undefined as AuditAnchor | undefined,
    checkpoints: [] as SnapshotCheckpoint[],
    head: header.head as AuditLogSnapshot['head'],
    signedHead: typeof header.signedHead === 'string' ? header.signedHead : null,
  };
  /** The next non-empty line, parsed; undefined at the end of the file. */
  const nextLine = async () => {
    for (;;) {
      const next = await lines.next();
      if (next.done) return undefined;
      lineNumber += 1;
      if (next.value !== '') return parse(next.value);
    }
  };

  let pending: AuditRecord | undefined;
  for (let line = await nextLine(); line; line = await nextLine()) {
    if (line.type === 'key') snapshot.keys.push({ keyId: String(line.keyId), publicKey: String(line.publicKey) });
    else if (line.type === 'anchor') snapshot.anchor = { treeSize: Number(line.treeSize), compactRange: line.compactRange as string[], reason: line.reason === 'since' ? 'since' : 'pruned' };
    else if (line.type === 'checkpoint') snapshot.checkpoints.push({ treeSize: Number(line.treeSize), note: String(line.note), number: typeof line.number === 'number' ? line.number : null, link: typeof line.link === 'string' ? line.link : null });
    else if (line.type === 'record') {
      pending = toRecord(line);
      break;
    } else throw new Error(`${file}:${lineNumber}: unknown line type ${JSON.stringify(line.type)}`);
  }

  async function* records(): AsyncGenerator<AuditRecord[]> {
    let batch: AuditRecord[] = pending ? [pending] : [];
    for (;;) {
      let line: Awaited<ReturnType<typeof nextLine>>;
      try {
        line = await nextLine();
        if (line && line.type !== 'record') throw new Error(`${file}:${lineNumber}: expected a record line`);
      } catch (error) {
        // The records before a bad line (a file cut mid-line) are checked first, so the failure names the right seq.
        if (batch.length > 0) yield batch;
        throw error;
      }
      if (!line) break;
      batch.push(toRecord(line));
      if (batch.length >= 5000) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }
  return { ...snapshot, records: records() };
}

function toRecord(line: Record<string, unknown>): AuditRecord {
  const { type: _, ...record } = line;
  return record as unknown as AuditRecord;
}
