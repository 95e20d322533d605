import { createPublicKey, type KeyObject } from 'node:crypto';
import { GENESIS_HASH, recordHash, type AuditRecord } from './audit-record.ts';
import { openCheckpoint } from './checkpoint-note.ts';
import { createCompactRange, leafHash } from './merkle-tree.ts';
import { createInlineSignatureChecker, packSignatureItems, type SignatureChecker } from './signature-checker.ts';
import { publicKeyId } from './signing-key.ts';

/** Where the retained records start: records up to `treeSize` are gone, their tree's right edge is kept. */
export interface AuditAnchor {
  treeSize: number;
  /** Hex subtree roots of the first `treeSize` leaves (CompactRange). */
  compactRange: string[];
  /** `pruned`: a prune removed the records before it; `since`: an export started there. */
  reason: 'pruned' | 'since';
}

/** Everything `verify` reads, from the database or from an export file. */
export interface AuditLogSnapshot {
  origin: string;
  keys: ReadonlyArray<{ keyId: string; publicKey: string }>;
  anchor?: AuditAnchor | undefined;
  checkpoints: ReadonlyArray<{ treeSize: number; note: string }>;
  /** The log's own claim of its last record (the head row, an export's header). */
  head?: { seq: number; hash: string } | undefined;
  /** The records in sequence order, in batches. */
  records: AsyncIterable<AuditRecord[]>;
}

export type VerifyReport =
  | { ok: true; records: number; firstSeq: number | null; lastSeq: number; checkpoints: number; latestCheckpoint: { treeSize: number; rootHash: string } | null; keys: number; anchor: AuditAnchor | null }
  | { ok: false; seq: number; reason: string };

export interface VerifyOptions {
  /** Defaults to checking on the calling thread. */
  signatureChecker?: (publicKeys: string[]) => SignatureChecker;
  /** Records per signature batch. */
  batchSize?: number;
  /**
   * Public keys (SPKI PEM) obtained apart from the log: only these vouch for records and
   * checkpoints, and the keys the log lists are ignored. Without them, whoever can rewrite
   * the whole log (or an export) can re-sign it with a key of their own and list that key.
   */
  trustedKeys?: readonly string[];
}

/** A trusted key as the log would list it; throws naming the problem for anything but an Ed25519 public key. */
export function trustedKey(pem: string): { keyId: string; publicKey: string } {
  const publicKey = createPublicKey(pem);
  if (publicKey.asymmetricKeyType !== 'ed25519') throw new TypeError(`trusted key is ${publicKey.asymmetricKeyType ?? 'not asymmetric'}; audit keys are Ed25519`);
  return { keyId: publicKeyId(publicKey), publicKey: pem };
}

interface Failure {
  seq: number;
  reason: string;
}

/**
 * Checks every link, hash, signature and checkpoint of the log and reports the first bad
 * sequence number, with the reason. Records are checked in order on this thread
 * (hash, chain, tree); signatures go to the checker in batches, in flight while later
 * records are hashed, and the lowest failing sequence number wins.
 */
export async function verifyAuditLog(snapshot: AuditLogSnapshot, options: VerifyOptions = {}): Promise<VerifyReport> {
  const batchSize = options.batchSize ?? 2000;
  const keyIndex = new Map<string, number>();
  const publicKeys = new Map<string, KeyObject>();
  const pems: string[] = [];
  const pinned = options.trustedKeys !== undefined;
  const keys = options.trustedKeys ? options.trustedKeys.map(trustedKey) : snapshot.keys;
  for (const key of keys) {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey(key.publicKey);
    } catch {
      continue;
    }
    // A key filed under another key's id must not vouch for that id's records.
    if (publicKey.asymmetricKeyType !== 'ed25519' || publicKeyId(publicKey) !== key.keyId) continue;
    keyIndex.set(key.keyId, pems.length);
    publicKeys.set(key.keyId, publicKey);
    pems.push(key.publicKey);
  }

  const failures: Failure[] = [];
  const checkpointRoots = new Map<number, Buffer>();
  for (const { treeSize, note } of snapshot.checkpoints) {
    const opened = openCheckpoint(note, snapshot.origin, publicKeys);
    if (!opened.ok) failures.push({ seq: treeSize, reason: `checkpoint of tree size ${treeSize}: ${opened.reason}` });
    else if (opened.checkpoint.size !== treeSize) failures.push({ seq: treeSize, reason: `checkpoint filed at tree size ${treeSize} signs size ${opened.checkpoint.size}` });
    else checkpointRoots.set(treeSize, opened.checkpoint.root);
  }

  const anchor = snapshot.anchor;
  let range = createCompactRange();
  let expected = 1;
  let prevHash: string | undefined = GENESIS_HASH;
  if (anchor) {
    expected = anchor.treeSize + 1;
    prevHash = undefined; // the first retained record's link is vouched for by its own signature
    try {
      range = createCompactRange(anchor.treeSize, anchor.compactRange.map((h) => Buffer.from(h, 'hex')));
    } catch (error) {
      return { ok: false, seq: expected, reason: `anchor at tree size ${anchor.treeSize} is malformed: ${(error as Error).message}` };
    }
    const signedRoot = checkpointRoots.get(anchor.treeSize);
    if (!signedRoot) return { ok: false, seq: expected, reason: `anchor at tree size ${anchor.treeSize} has no signed checkpoint of that size` };
    if (!signedRoot.equals(range.root())) return { ok: false, seq: expected, reason: `anchor at tree size ${anchor.treeSize} does not match its signed checkpoint's root` };
  }

  const checker = (options.signatureChecker ?? createInlineSignatureChecker)(pems);
  const inFlight: Array<Promise<Failure | undefined>> = [];
  let batch: Array<{ seq: number; hash: Buffer; signature: Buffer; keyIndex: number }> = [];
  const flush = () => {
    if (batch.length === 0) return;
    const items = batch;
    batch = [];
    inFlight.push(checker.check(packSignatureItems(items)).then((failed) => (failed < 0 ? undefined : { seq: items[failed]!.seq, reason: `signature does not verify with key ${keys.find((k) => keyIndex.get(k.keyId) === items[failed]!.keyIndex)?.keyId}` })));
  };

  let structural: Failure | undefined;
  let count = 0;
  let firstSeq: number | null = null;
  let lastHash: string | undefined;
  let prunedAnchorNamed = anchor?.reason !== 'pruned';
  try {
    reading: for await (const records of snapshot.records) {
      for (const record of records) {
        structural = checkRecord(record);
        if (structural) break reading;
        firstSeq ??= record.seq;
        count += 1;
        prevHash = lastHash = record.hash;
        expected += 1;
        if (record.event === 'audit.pruned' && anchor && (record.data as { anchor?: { treeSize?: unknown } }).anchor?.treeSize === anchor.treeSize) prunedAnchorNamed = true;
        if (batch.length >= batchSize) flush();
      }
      // Keep a bounded amount of work in flight.
      if (inFlight.length >= 8) {
        const failure = await inFlight.shift();
        if (failure) {
          structural = failure;
          break;
        }
      }
    }
    flush();
    for (const failure of await Promise.all(inFlight)) if (failure) failures.push(failure);
  } finally {
    await checker.close();
  }
  if (structural) failures.push(structural);

  const lastSeq = expected - 1;
  if (!structural) {
    for (const size of checkpointRoots.keys()) {
      if (size > lastSeq) failures.push({ seq: lastSeq + 1, reason: `the log ends at ${lastSeq} but a signed checkpoint covers ${size} records: records from ${lastSeq + 1} are missing` });
    }
    const head = snapshot.head;
    if (head && head.seq > lastSeq) failures.push({ seq: lastSeq + 1, reason: `the log ends at ${lastSeq} but its head says ${head.seq}: records from ${lastSeq + 1} are missing` });
    else if (head && head.seq < lastSeq) failures.push({ seq: head.seq + 1, reason: `record ${head.seq + 1} lies beyond the log's head (${head.seq})` });
    else if (head && lastHash !== undefined && head.hash !== lastHash) failures.push({ seq: lastSeq, reason: `the log's head hash does not match record ${lastSeq}` });
    if (!prunedAnchorNamed && anchor) failures.push({ seq: anchor.treeSize + 1, reason: `no retained audit.pruned record names the anchor at tree size ${anchor.treeSize}: records were removed outside the prune routine` });
  }

  if (failures.length > 0) {
    const first = failures.reduce((a, b) => (b.seq < a.seq ? b : a));
    return { ok: false, ...first };
  }
  const latest = [...checkpointRoots].sort(([a], [b]) => b - a)[0];
  return {
    ok: true,
    records: count,
    firstSeq,
    lastSeq,
    checkpoints: checkpointRoots.size,
    latestCheckpoint: latest ? { treeSize: latest[0], rootHash: latest[1].toString('hex') } : null,
    keys: publicKeys.size,
    anchor: anchor ?? null,
  };

  function checkRecord(record: AuditRecord): Failure | undefined {
    if (record.seq !== expected) {
      return record.seq > expected
        ? { seq: expected, reason: `record ${expected} is missing (the next is ${record.seq})` }
        : { seq: expected, reason: `record ${record.seq} appears where ${expected} belongs` };
    }
    if (prevHash !== undefined && record.prevHash !== prevHash) {
      return { seq: record.seq, reason: expected === 1 ? 'the first record does not start from the genesis hash' : `prevHash does not match the hash of record ${record.seq - 1}` };
    }
    const index = keyIndex.get(record.keyId);
    if (index === undefined) return { seq: record.seq, reason: pinned ? `signed by key ${JSON.stringify(record.keyId)}, which is not a trusted key` : `signed by unknown key ${JSON.stringify(record.keyId)}` };
    let computed: string;
    try {
      computed = recordHash(record);
    } catch (error) {
      return { seq: record.seq, reason: `record cannot be canonicalized: ${(error as Error).message}` };
    }
    if (computed !== record.hash) return { seq: record.seq, reason: 'hash does not match the record (a field was changed)' };
    const hash = Buffer.from(record.hash, 'hex');
    const signature = Buffer.from(record.signature, 'base64');
    if (signature.length !== 64) return { seq: record.seq, reason: 'signature is malformed' };
    batch.push({ seq: record.seq, hash, signature, keyIndex: index });
    range.append(leafHash(hash));
    const signedRoot = checkpointRoots.get(record.seq);
    if (signedRoot && !signedRoot.equals(range.root())) return { seq: record.seq, reason: `the signed checkpoint of tree size ${record.seq} does not match records up to ${record.seq}` };
    return undefined;
  }
}
