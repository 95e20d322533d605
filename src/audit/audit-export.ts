import fs from 'node:fs';
import readline from 'node:readline';
import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { AuditRecord } from './audit-record.ts';
import { latestAnchor, readAuditSnapshot } from './read-audit-snapshot.ts';
import type { AuditAnchor, AuditLogSnapshot } from './verify-audit-log.ts';

/**
 * The export format, one JSON object per line, in this order so a reader can stream it:
 *
 *     {"type":"log","format":"countersign-audit/1","origin":…,"exportedAt":…,"head":{"seq":…,"hash":…}}
 *     {"type":"key","keyId":…,"publicKey":"-----BEGIN PUBLIC KEY-----…"}        every key that ever signed
 *     {"type":"anchor","treeSize":…,"compactRange":[…],"reason":"pruned"|"since"}  when records before it are absent
 *     {"type":"checkpoint","treeSize":…,"note":"<C2SP signed note>"}
 *     {"type":"record","seq":…,"time":…,"approvalId":…,"event":…,"actor":…,"data":…,"prevHash":…,"keyId":…,"hash":…,"signature":…}
 */
export const EXPORT_FORMAT = 'countersign-audit/1';

/**
 * Writes the log as JSONL. With `since`, it starts at the last signed checkpoint before the
 * first record at or after `since`, so the part exported still verifies on its own from a
 * signed anchor (it may hold a few earlier records).
 */
export async function exportAuditLog(db: Kysely<Database>, write: (text: string) => void | Promise<void>, options: { since?: Date; now?: Date } = {}): Promise<{ records: number }> {
  const startAt = options.since ? await sinceAnchor(db, options.since) : undefined;
  const snapshot = await readAuditSnapshot(db, startAt);
  await write(`${JSON.stringify({ type: 'log', format: EXPORT_FORMAT, origin: snapshot.origin, exportedAt: (options.now ?? new Date()).toISOString(), head: snapshot.head })}\n`);
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
  if (header?.type !== 'log' || header.format !== EXPORT_FORMAT) throw new Error(`${file}: not a countersign audit export (the first line must be {"type":"log","format":"${EXPORT_FORMAT}",…})`);

  const snapshot = {
    origin: String(header.origin),
    keys: [] as Array<{ keyId: string; publicKey: string }>,
    anchor: undefined as AuditAnchor | undefined,
    checkpoints: [] as Array<{ treeSize: number; note: string }>,
    head: header.head as AuditLogSnapshot['head'],
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
    else if (line.type === 'checkpoint') snapshot.checkpoints.push({ treeSize: Number(line.treeSize), note: String(line.note) });
    else if (line.type === 'record') {
      pending = toRecord(line);
      break;
    } else throw new Error(`${file}:${lineNumber}: unknown line type ${JSON.stringify(line.type)}`);
  }

  async function* records(): AsyncGenerator<AuditRecord[]> {
    let batch: AuditRecord[] = pending ? [pending] : [];
    for (let line = await nextLine(); line; line = await nextLine()) {
      if (line.type !== 'record') throw new Error(`${file}:${lineNumber}: expected a record line`);
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
