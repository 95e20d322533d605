import { generateKeyPairSync } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import { recordHash, type AuditRecord } from '../../src/audit/audit-record.ts';
import { signCheckpointLink } from '../../src/audit/checkpoint-link.ts';
import { signCheckpoint } from '../../src/audit/checkpoint-note.ts';
import { createCompactRange, emptyRoot, leafHash } from '../../src/audit/merkle-tree.ts';
import { toAuditRecord } from '../../src/audit/read-audit-snapshot.ts';
import type { Database } from '../../src/db/schema.ts';
import { signerFromPem, type Signer } from '../../src/primitives/signing-key.ts';

export const newSigner = (): Signer => signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());

export interface Rewrite {
  /** The first record rewritten (and re-signed): earlier ones stay as they are. */
  from?: number;
  /** Changes a record before it is re-chained (return it unchanged to only re-sign). */
  change?: (record: AuditRecord) => AuditRecord;
  /** Keeps only records up to this seq (a cut). */
  cutTo?: number;
  /** Records to add at the end, before signing (`seq`, `prevHash`, `hash` and `signature` are filled in). */
  append?: Array<Omit<AuditRecord, 'seq' | 'prevHash' | 'hash' | 'signature' | 'keyId'> & { keyId?: string; sign?: (hash: Buffer) => Buffer }>;
  /** `only`: the log then lists only the intruder's key; `add`: beside the genuine ones. */
  keys?: 'only' | 'add';
}

/**
 * Plays a database superuser who rewrites the audit log and re-signs it end to end with a key
 * of their own: records from `from` re-chained and signed, every checkpoint re-signed over the
 * new tree (numbered and linked), the head moved. What verify sees is then consistent in
 * itself: only something kept outside (a witness, a trusted key) can tell. Run inside
 * `verifyAfterTampering`, which disables the append-only triggers and rolls everything back.
 */
export async function rewriteLog(trx: Transaction<Database>, intruder: Signer, rewrite: Rewrite = {}): Promise<void> {
  const from = rewrite.from ?? 1;
  await sql`alter table audit_signing_keys disable trigger audit_signing_keys_no_change`.execute(trx);
  const rows = await trx.selectFrom('audit_records').selectAll().orderBy('seq').execute();
  let records = rows.map(toAuditRecord);
  if (rewrite.cutTo !== undefined) records = records.filter((r) => r.seq <= rewrite.cutTo!);
  const signers = new Map<number, (hash: Buffer) => Buffer>();
  for (const extra of rewrite.append ?? []) {
    const seq = records.length + 1;
    records.push({ ...extra, seq, prevHash: '', hash: '', signature: '', keyId: extra.keyId ?? intruder.keyId });
    if (extra.sign) signers.set(seq, extra.sign);
  }
  let prevHash = '0'.repeat(64);
  const chained: AuditRecord[] = [];
  for (const original of records) {
    if (original.seq < from) {
      chained.push(original);
      prevHash = original.hash;
      continue;
    }
    const changed = rewrite.change ? rewrite.change(original) : original;
    const body = { ...changed, prevHash, keyId: signers.has(original.seq) ? changed.keyId : intruder.keyId };
    const hash = recordHash(body);
    const sign = signers.get(original.seq) ?? ((h: Buffer) => intruder.sign(h));
    chained.push({ ...body, hash, signature: sign(Buffer.from(hash, 'hex')).toString('base64') });
    prevHash = hash;
  }
  await trx.deleteFrom('audit_records').execute();
  for (let i = 0; i < chained.length; i += 500) {
    await trx
      .insertInto('audit_records')
      .values(chained.slice(i, i + 500).map((r) => ({ seq: r.seq, time: new Date(r.time), approval_id: r.approvalId, event: r.event, actor: JSON.stringify(r.actor), data: JSON.stringify(r.data), prev_hash: r.prevHash, hash: r.hash, signature: r.signature, key_id: r.keyId })))
      .execute();
  }

  // Checkpoints before `from` cover unchanged records and stay as signed; later ones are re-signed over the new tree.
  const { origin } = await trx.selectFrom('audit_head').select('origin').executeTakeFirstOrThrow();
  const all = (await trx.selectFrom('audit_checkpoints').select(['tree_size', 'root_hash']).orderBy('tree_size').execute()).map((c) => ({ size: Number(c.tree_size), root: Buffer.from(c.root_hash, 'hex') }));
  const kept = all.filter((c) => c.size < from && c.size <= chained.length);
  const sizes = all.map((c) => c.size).filter((size) => size >= from && size <= chained.length);
  await trx.deleteFrom('audit_checkpoints').where((eb) => eb.or([eb('tree_size', '>=', from), eb('tree_size', '>', chained.length)])).execute();
  const range = createCompactRange();
  let previous = kept.length > 0 ? { treeSize: kept.at(-1)!.size, root: kept.at(-1)!.root } : { treeSize: 0, root: emptyRoot() };
  let number = kept.length;
  for (const [i, record] of chained.entries()) {
    range.append(leafHash(Buffer.from(record.hash, 'hex')));
    if (!sizes.includes(i + 1)) continue;
    number += 1;
    const root = range.root();
    await trx
      .insertInto('audit_checkpoints')
      .values({
        tree_size: i + 1,
        root_hash: root.toString('hex'),
        note: signCheckpoint({ origin, size: i + 1, root }, intruder),
        key_id: intruder.keyId,
        compact_range: JSON.stringify(range.hashes().map((h) => h.toString('hex'))),
        number,
        link: signCheckpointLink(origin, { number, treeSize: i + 1, root, previous }, intruder),
      })
      .execute();
    previous = { treeSize: i + 1, root };
  }
  await sql`update audit_head set seq = ${chained.length}, hash = ${prevHash}, checkpoints = ${number} where id`.execute(trx);
  if (rewrite.keys === 'only') await trx.deleteFrom('audit_signing_keys').execute();
  await trx.insertInto('audit_signing_keys').values({ key_id: intruder.keyId, public_key: intruder.publicKeyPem }).onConflict((oc) => oc.doNothing()).execute();
}
