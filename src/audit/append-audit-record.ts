import { sql, type QueryCreator, type Transaction } from 'kysely';
import { toJson } from '../db/json.ts';
import type { Database } from '../db/schema.ts';
import { assertHashableEntry, recordHash, type AuditEntry, type AuditRecord, type AuditRecordBody } from './audit-record.ts';
import type { Signer } from '../primitives/signing-key.ts';

/**
 * Appends one record inside the caller's transaction, so it commits or rolls back with the
 * state change it describes. Moving the one-row head takes its row lock (held to commit)
 * and, under READ COMMITTED, returns the latest committed head: appends from any number of
 * requests or instances queue there and can neither fork the chain nor leave a gap (a
 * rolled-back append rolls back its head move too; a sequence would leave a hole).
 *
 * The lock is held until the caller commits: append as the LAST statement of the
 * transaction. State changes do not call this directly but queue their entry
 * (audit-queue.ts); the integrator and rare events such as a prune chain through here.
 */
export async function appendAuditRecord(trx: Transaction<Database>, signer: Signer, entry: AuditEntry, now: Date): Promise<AuditRecord> {
  const [record] = await appendAuditRecords(trx, signer, [{ entry, time: now }]);
  return record!;
}

/**
 * Chains several entries in one go: the head is read under its row lock (held to commit; under
 * READ COMMITTED a lock that waited reads the head as its holder left it), the records are
 * hashed and signed in memory, linked one to the next, and written with the head's move by
 * `appendAfterHead`'s one statement: two round trips however many entries.
 */
export async function appendAuditRecords(trx: Transaction<Database>, signer: Signer, entries: ReadonlyArray<{ entry: AuditEntry; time: Date }>): Promise<AuditRecord[]> {
  if (entries.length === 0) return [];
  const head = await trx.selectFrom('audit_head').select(['seq', 'hash']).where(sql<boolean>`id`).forUpdate().executeTakeFirst();
  if (!head) throw new Error('audit_head has no row: run the migrations');
  return (await appendAfterHead(trx, signer, { seq: Number(head.seq), hash: head.hash }, entries, recordsAlone)).records;
}

/** `appendAfterHead`'s `write` when the records are the whole change. */
export const recordsAlone = (db: QueryCreator<Database>) => db.selectNoFrom(sql<number>`1`.as('appended')).execute();

/**
 * `appendAuditRecords` after a head the caller knows (inline, the one process writing the log
 * knows where its last committed append left it): one statement, and with `write` the same
 * statement also makes the change the records describe (`write` runs its ONE statement on the
 * creator it is given). The head moves only from `head`: were it elsewhere, the records' `seq`
 * would be null and the statement fails, the caller's transaction with it, so a wrong head can
 * neither fork the chain nor leave a gap, nor let the change commit without its records.
 */
export async function appendAfterHead<R>(
  trx: Transaction<Database>,
  signer: Signer,
  head: ChainHead,
  entries: ReadonlyArray<{ entry: AuditEntry; time: Date }>,
  write: (db: QueryCreator<Database>) => Promise<R>,
): Promise<{ records: AuditRecord[]; result: R }> {
  for (const { entry } of entries) assertHashableEntry(entry);
  const records = await chainEntries(head, entries, signer);
  const last = records.at(-1)!;
  const db = trx
    .with('moved_head', (q) => q.updateTable('audit_head').set({ seq: last.seq, hash: last.hash }).where(sql<boolean>`id`).where('seq', '=', head.seq).where('hash', '=', head.hash).returning('seq'))
    .with('chained_records', (q) => q.insertInto('audit_records').values(records.map((record) => ({ ...auditRecordRow(record), seq: sql<number>`(select ${record.seq}::bigint from moved_head)` }))));
  // Widened back to the plain schema: the CTEs only add tables `write` has no use for.
  return { records, result: await write(db as unknown as QueryCreator<Database>) };
}

/** The chain's end: the last record's seq and hash (0 and the genesis hash when empty). */
export interface ChainHead {
  seq: number;
  hash: string;
}

/** Links `entries` after `head`: numbered, hashed one over the next, and signed. */
export async function chainEntries(head: ChainHead, entries: ReadonlyArray<{ entry: AuditEntry; time: Date }>, signer: Signer): Promise<AuditRecord[]> {
  let { seq, hash: prevHash } = head;
  const linked = entries.map(({ entry, time }) => {
    seq += 1;
    const body: AuditRecordBody = {
      seq,
      time: time.toISOString(),
      approvalId: entry.approvalId ?? null,
      event: entry.event,
      actor: entry.actor,
      data: entry.data ?? {},
      prevHash,
      keyId: signer.keyId,
    };
    prevHash = recordHash(body);
    return { ...body, hash: prevHash };
  });
  const signatures = await signer.signAll(linked.map((record) => Buffer.from(record.hash, 'hex')));
  return linked.map((record, i) => ({ ...record, signature: signatures[i]!.toString('base64') }));
}

/** A record as its audit_records row. */
export function auditRecordRow(record: AuditRecord) {
  return {
    seq: record.seq,
    time: new Date(record.time),
    approval_id: record.approvalId,
    event: record.event,
    actor: toJson(record.actor),
    data: toJson(record.data),
    prev_hash: record.prevHash,
    hash: record.hash,
    signature: record.signature,
    key_id: record.keyId,
  };
}
