import { sql, type Transaction } from 'kysely';
import { findUnsafeNumber } from '../approvals/payload-hash.ts';
import { toJson } from '../db/json.ts';
import type { Database } from '../db/schema.ts';
import { recordHash, type AuditEntry, type AuditRecord, type AuditRecordBody } from './audit-record.ts';
import type { Signer } from './signing-key.ts';

/**
 * Appends one record inside the caller's transaction, so it commits or rolls back with the
 * state change it describes. Moving the one-row head takes its row lock (held to commit)
 * and, under READ COMMITTED, returns the latest committed head: appends from any number of
 * requests or instances queue there and can neither fork the chain nor leave a gap (a
 * rolled-back append rolls back its head move too; a sequence would leave a hole).
 *
 * The lock is held until the caller commits: append as the LAST statement of the
 * transaction. Inside, only two round trips, one SHA-256 and one signature (~35 µs).
 */
export async function appendAuditRecord(trx: Transaction<Database>, signer: Signer, entry: AuditEntry, now: Date): Promise<AuditRecord> {
  const data = entry.data ?? {};
  const unsafe = findUnsafeNumber(data, 'data');
  if (unsafe) throw new TypeError(`audit ${entry.event}: ${unsafe} is an integer beyond 2^53; record it as a string`);

  const { rows } = await sql<{ seq: string | number; hash: string }>`update audit_head set seq = seq + 1 where id returning seq, hash`.execute(trx);
  const head = rows[0];
  if (!head) throw new Error('audit_head has no row: run the migrations');
  const body: AuditRecordBody = {
    seq: Number(head.seq),
    time: now.toISOString(),
    approvalId: entry.approvalId ?? null,
    event: entry.event,
    actor: entry.actor,
    data,
    prevHash: head.hash,
    keyId: signer.keyId,
  };
  const hash = recordHash(body);
  const record: AuditRecord = { ...body, hash, signature: signer.sign(Buffer.from(hash, 'hex')).toString('base64') };
  await sql`
    with moved as (update audit_head set hash = ${hash} where id)
    insert into audit_records (seq, time, approval_id, event, actor, data, prev_hash, hash, signature, key_id)
    values (${record.seq}, ${now}, ${record.approvalId}, ${record.event}, ${toJson(record.actor)}::jsonb, ${toJson(data)}::jsonb,
            ${record.prevHash}, ${hash}, ${record.signature}, ${record.keyId})`.execute(trx);
  return record;
}
