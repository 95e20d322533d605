import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, recordHash, type AuditRecord } from '../../../src/audit/audit-record.ts';
import { signCheckpoint } from '../../../src/audit/checkpoint-note.ts';
import { createCompactRange, leafHash } from '../../../src/audit/merkle-tree.ts';
import { createWorkerSignatureChecker } from '../../../src/audit/signature-checker.ts';
import { verifyAuditLog, type AuditLogSnapshot, type VerifyOptions } from '../../../src/audit/verify-audit-log.ts';
import { signerFromPem } from '../../../src/primitives/signing-key.ts';

// Signatures are checked on worker threads in batches, several out at once, while the main
// thread goes on hashing later records: a failure must still be named by its own seq, and the
// lowest failing seq must win whichever batch answers first.

const ORIGIN = 'countersign/test';
const signer = signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());

/** `count` chained, signed records and a checkpoint at 50, with `change` applied to the records as stored. */
function log(count: number, change: (records: AuditRecord[]) => void = () => undefined): AuditLogSnapshot {
  const records: AuditRecord[] = [];
  const range = createCompactRange();
  let root50: Buffer | undefined;
  for (let seq = 1, prevHash = GENESIS_HASH; seq <= count; seq += 1) {
    const body = { seq, time: new Date(1_700_000_000_000 + seq).toISOString(), approvalId: null, event: 'approval.requested', actor: { kind: 'agent' as const, id: 'key_1', via: 'api' }, data: { i: seq }, prevHash, keyId: signer.keyId };
    const hash = recordHash(body);
    records.push({ ...body, hash, signature: signer.sign(Buffer.from(hash, 'hex')).toString('base64') });
    range.append(leafHash(Buffer.from(hash, 'hex')));
    if (seq === 50) root50 = range.root();
    prevHash = hash;
  }
  change(records);
  async function* pages(): AsyncGenerator<AuditRecord[]> {
    for (let i = 0; i < records.length; i += 9) yield records.slice(i, i + 9);
  }
  return {
    origin: ORIGIN,
    keys: [{ keyId: signer.keyId, publicKey: signer.publicKeyPem }],
    checkpoints: root50 ? [{ treeSize: 50, note: signCheckpoint({ origin: ORIGIN, size: 50, root: root50 }, signer) }] : [],
    head: { seq: records.at(-1)!.seq, hash: records.at(-1)!.hash },
    records: pages(),
  };
}

/** Another record's valid signature: only the signature check can catch it. */
const swapSignature = (records: AuditRecord[], seq: number) => {
  records[seq - 1]!.signature = records[seq]!.signature;
};

// Batches of 7 on two threads with up to 3 out: a record at 53 sits mid-batch, behind batches still being checked.
const onWorkers: VerifyOptions = { signatureChecker: (keys) => createWorkerSignatureChecker(keys, 2), batchSize: 7, maxInFlight: 3 };

describe('verifyAuditLog with signatures checked on worker threads', () => {
  it('verifies a whole log in batches, the same as on the calling thread', async () => {
    const expected = { ok: true, records: 120, firstSeq: 1, lastSeq: 120, checkpoints: 1 };
    expect(await verifyAuditLog(log(120), onWorkers)).toMatchObject(expected);
    expect(await verifyAuditLog(log(120), { batchSize: 7 })).toMatchObject(expected);
  });

  it('names a bad signature in the middle of a batch by its seq, and the lowest of several', async () => {
    const forged = (...seqs: number[]) => log(120, (records) => seqs.forEach((seq) => swapSignature(records, seq)));
    const failure = { ok: false, seq: 53, reason: expect.stringMatching(/signature does not verify with key/) };
    expect(await verifyAuditLog(forged(53), onWorkers)).toMatchObject(failure);
    expect(await verifyAuditLog(forged(53, 54, 99), onWorkers)).toMatchObject(failure);
    expect(await verifyAuditLog(forged(99, 53), { batchSize: 7 })).toMatchObject(failure);
  });

  it('reports a bad signature before a later changed record, and a changed record before a later bad signature', async () => {
    const both = (signatureAt: number, changedAt: number) =>
      log(120, (records) => {
        swapSignature(records, signatureAt);
        records[changedAt - 1]!.data = { i: 'changed' };
      });
    expect(await verifyAuditLog(both(30, 80), onWorkers)).toMatchObject({ ok: false, seq: 30, reason: expect.stringMatching(/signature does not verify/) });
    expect(await verifyAuditLog(both(80, 30), onWorkers)).toMatchObject({ ok: false, seq: 30, reason: expect.stringMatching(/hash does not match/) });
  });
});
