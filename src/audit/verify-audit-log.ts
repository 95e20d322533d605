import { createPublicKey, type KeyObject } from 'node:crypto';
import { GENESIS_HASH, recordHash, type AuditRecord } from './audit-record.ts';
import { openCheckpointLink } from './checkpoint-link.ts';
import { openCheckpoint, type Checkpoint } from './checkpoint-note.ts';
import { openExportHead, type ExportHead } from './export-head.ts';
import { openKeyRotation } from './key-rotation.ts';
import { createCompactRange, emptyRoot, leafHash } from './merkle-tree.ts';
import { createInlineSignatureChecker, createSignatureBatch, createWorkerSignatureChecker, signatureThreads, type SignatureChecker } from './signature-checker.ts';
import { publicKeyId } from '../primitives/signing-key.ts';

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
  checkpoints: ReadonlyArray<SnapshotCheckpoint>;
  /** How many checkpoints the log has signed at least (the head's count, an export's signed head). */
  checkpointCount?: number | undefined;
  /** The log's own claim of its last record (the head row, an export's header). */
  head?: { seq: number; hash: string } | undefined;
  /** An export's signed head (export-head.ts); null for an export without one; absent for the database. */
  signedHead?: string | null | undefined;
  /** The records in sequence order, in batches. */
  records: AsyncIterable<AuditRecord[]>;
}

export interface SnapshotCheckpoint {
  treeSize: number;
  note: string;
  /** Absent or null for checkpoints signed before they were numbered (migration 0009). */
  number?: number | null | undefined;
  link?: string | null | undefined;
}

export type VerifyReport =
  | {
      ok: true;
      records: number;
      firstSeq: number | null;
      lastSeq: number;
      checkpoints: number;
      latestCheckpoint: { treeSize: number; rootHash: string } | null;
      keys: number;
      anchor: AuditAnchor | null;
      /** The checkpoint the auditor kept (`--checkpoint`), which the log is consistent with and at least as large as. */
      keptCheckpoint: { treeSize: number; rootHash: string } | null;
      /** The witness's checkpoints (`--witness`): how many the log was checked against, and how many lie before its retained records. */
      witness: { checked: number; beforeAnchor: number; largest: { treeSize: number; rootHash: string } | null } | null;
      /** Key rotations followed (`audit.signing_key_rotated` records). */
      rotations: number;
    }
  | { ok: false; seq: number; reason: string };

export interface VerifyOptions {
  /** Defaults to checking on the calling thread. */
  signatureChecker?: (publicKeys: string[]) => SignatureChecker;
  /** Records per signature batch. */
  batchSize?: number;
  /** Batches handed to the checker and not yet answered, at most, besides those of the page being checked (memory stays flat: the reader waits). */
  maxInFlight?: number;
  /**
   * Public keys (SPKI PEM) obtained apart from the log: only these vouch for records and
   * checkpoints, and the keys the log lists are ignored. Without them, whoever can rewrite
   * the whole log (or an export) can re-sign it with a key of their own and list that key.
   */
  trustedKeys?: readonly string[];
  /**
   * A checkpoint kept from earlier (C2SP signed note text, as GET /v1/audit/checkpoint
   * serves it): the log must be at least as large and its first `size` records must give
   * the same root, or it was cut back or forked since.
   */
  checkpoint?: string;
  /**
   * Every checkpoint a witness holds (src/audit/witness/), each checked like `checkpoint` and
   * named by `name` when it fails. One older than the retained records (a prune) cannot be
   * recomputed and is counted as such, unless the log's own checkpoint of that size disagrees.
   */
  witnessCheckpoints?: ReadonlyArray<{ name: string; note: string }>;
}

/** `verifyAuditLog` with the signature checks spread over the cores: what `audit verify` runs. */
export function verifyAuditLogOnAllCores(snapshot: AuditLogSnapshot, options: Omit<VerifyOptions, 'signatureChecker'> = {}): Promise<VerifyReport> {
  return verifyAuditLog(snapshot, { ...options, signatureChecker: (keys) => createWorkerSignatureChecker(keys, signatureThreads()) });
}

/** A checkpoint kept outside the log, and how a failure names it. */
interface Kept {
  label: string;
  checkpoint: Checkpoint;
  /** A witness's (skipped when before the anchor) or the auditor's own (`--checkpoint`: a failure). */
  witness: boolean;
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
 *
 * Hashing stays here rather than on the checker threads: a record's hash and tree leaf cost
 * ~4 µs of CPU against ~80-100 µs for its signature, and handing the records themselves to a
 * thread (structured clone, or JSON both ways) costs about as much as hashing them, so on a
 * machine where every core already checks signatures it would only move the CPU, not save it.
 * What the checker threads need is never to wait: up to `maxInFlight` batches are out while
 * this thread reads and hashes on, and the reader stops once that many are (memory stays flat).
 */
export async function verifyAuditLog(snapshot: AuditLogSnapshot, options: VerifyOptions = {}): Promise<VerifyReport> {
  // Small batches, many out: a batch is ~40 ms of one core's work, so the last ones leave a checker
  // thread idle that long at most while the other finishes (2000 took 160 ms: 3% of a 100k-record
  // verify), and the first goes out after 500 records; a message costs ~0.1 µs per record.
  const batchSize = options.batchSize ?? 500;
  const maxInFlight = options.maxInFlight ?? 16;
  const keyIndex = new Map<string, number>();
  const publicKeys = new Map<string, KeyObject>();
  const pems: string[] = [];
  const keyIds: string[] = [];
  const pinned = options.trustedKeys !== undefined;
  const trusted = options.trustedKeys ? options.trustedKeys.map(trustedKey) : [];
  // Pinned, the keys the log lists are only candidates: one signs for the log once a trusted
  // key, or a key a trusted key rotated to, has endorsed it in an `audit.signing_key_rotated`
  // record (`vouched`). Every signed note's key is held to the same set at the end.
  for (const key of [...trusted, ...snapshot.keys]) {
    if (keyIndex.has(key.keyId)) continue;
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
    keyIds.push(key.keyId);
  }
  const vouched = new Set(pinned ? trusted.map((key) => key.keyId) : publicKeys.keys());
  /** Which key signed each note (checkpoint, link, head, kept checkpoint): checked against `vouched` once every rotation is read. */
  const noteSigners: NoteSigner[] = [];
  let rotations = 0;

  const failures: Failure[] = [];
  const checkpointRoots = new Map<number, Buffer>();
  for (const { treeSize, note } of snapshot.checkpoints) {
    const opened = openCheckpoint(note, snapshot.origin, publicKeys);
    if (!opened.ok) failures.push({ seq: treeSize, reason: `checkpoint of tree size ${treeSize}: ${opened.reason}` });
    else if (opened.checkpoint.size !== treeSize) failures.push({ seq: treeSize, reason: `checkpoint filed at tree size ${treeSize} signs size ${opened.checkpoint.size}` });
    else {
      checkpointRoots.set(treeSize, opened.checkpoint.root);
      noteSigners.push({ seq: treeSize, what: `the checkpoint of tree size ${treeSize}`, keyId: opened.keyId });
    }
  }

  const keptList: Kept[] = [];
  const toKeep = [
    ...(options.checkpoint !== undefined ? [{ label: 'the checkpoint you kept', note: options.checkpoint, witness: false }] : []),
    ...(options.witnessCheckpoints ?? []).map(({ name, note }) => ({ label: `witness checkpoint ${name}`, note, witness: true })),
  ];
  for (const { label, note, witness } of toKeep) {
    const opening = openKeptCheckpoint(label, note, snapshot.origin, publicKeys, pinned);
    if (!opening.ok) return { ok: false, seq: 0, reason: opening.reason };
    keptList.push({ label, checkpoint: opening.checkpoint, witness });
    noteSigners.push({ seq: opening.checkpoint.size, what: label, keyId: opening.keyId });
  }
  const kept = keptList.find((k) => !k.witness)?.checkpoint;
  let signedHead: ExportHead | undefined;
  if (snapshot.signedHead === null) failures.push({ seq: 0, reason: 'the export has no signed head: its tail could have been cut unnoticed (export it again with this version)' });
  else if (snapshot.signedHead !== undefined) {
    const opened = openExportHead(snapshot.signedHead, snapshot.origin, publicKeys);
    if (opened.ok) {
      signedHead = opened.head;
      noteSigners.push({ seq: 0, what: "the export's signed head", keyId: opened.keyId });
    } else failures.push({ seq: 0, reason: `the export's signed head does not verify: ${opened.reason}` });
  }
  failures.push(...checkCheckpointChain(snapshot, checkpointRoots, publicKeys, Math.max(snapshot.checkpointCount ?? 0, signedHead?.checkpoints ?? 0), signedHead ? "the export's signed head" : "the log's head", noteSigners));

  const anchor = snapshot.anchor;
  let beforeAnchorCount = 0;
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
    for (const k of keptList) {
      const { checkpoint } = k;
      if (checkpoint.size === anchor.treeSize && !checkpoint.root.equals(signedRoot)) return { ok: false, seq: checkpoint.size, reason: forked(k, signedRoot) };
      if (checkpoint.size >= anchor.treeSize) continue;
      const stored = checkpointRoots.get(checkpoint.size);
      // A witness holds checkpoints from before every prune: those cannot be recomputed, only compared with the log's own.
      if (k.witness && (!stored || stored.equals(checkpoint.root))) beforeAnchorCount += 1;
      else return { ok: false, seq: checkpoint.size, reason: beforeAnchor(k, anchor, stored) };
    }
  }
  for (const k of keptList) if (k.checkpoint.size === 0 && !k.checkpoint.root.equals(emptyRoot())) return { ok: false, seq: 0, reason: forked(k, emptyRoot()) };
  const keptAt = new Map<number, Kept[]>();
  for (const k of keptList) keptAt.set(k.checkpoint.size, [...(keptAt.get(k.checkpoint.size) ?? []), k]);

  const checker = (options.signatureChecker ?? createInlineSignatureChecker)(pems);
  const inFlight: Array<Promise<Failure | undefined>> = [];
  const batch = createSignatureBatch(batchSize);
  const flush = () => {
    if (batch.size === 0) return;
    const { packed, seqs, keyIndexes } = batch.take();
    inFlight.push(checker.check(packed).then((failed) => (failed < 0 ? undefined : { seq: seqs[failed]!, reason: `signature does not verify with key ${keyIds[keyIndexes[failed]!]}` })));
  };

  let structural: Failure | undefined;
  let count = 0;
  let firstSeq: number | null = null;
  let lastHash: string | undefined;
  let prunedAnchorNamed = anchor?.reason !== 'pruned';
  try {
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
          if (batch.size >= batchSize) flush();
        }
        // A bounded amount of work in flight: enough that no checker thread waits for the next batch, few enough that memory stays flat.
        // Waited for between pages, not within one: a page's records are garbage once packed, where kept
        // across the wait they outlived young-generation collections and were copied and promoted (most
        // of this thread's GC, which was a sixth of its CPU).
        while (inFlight.length >= maxInFlight) {
          const failure = await inFlight.shift();
          if (failure) {
            structural = failure;
            break reading;
          }
        }
      }
    } catch (error) {
      // A file cut mid-line, or a line that is not a record: the records end there.
      structural = { seq: expected, reason: `cannot read record ${expected}: ${(error as Error).message}` };
    }
    flush();
    for (const failure of await Promise.all(inFlight)) if (failure) failures.push(failure);
  } finally {
    await checker.close();
  }
  if (structural) failures.push(structural);

  const lastSeq = expected - 1;
  if (!structural) {
    // First, so that at the same sequence number the checkpoint kept outside names the cut (the largest first).
    const beyond = keptList.filter((k) => k.checkpoint.size > lastSeq).sort((a, b) => b.checkpoint.size - a.checkpoint.size);
    failures.unshift(...beyond.map((k) => ({ seq: lastSeq + 1, reason: `cut back: the log has ${lastSeq} records, ${k.label} covers ${k.checkpoint.size}` })));
    if (signedHead) failures.push(...checkSignedHead(signedHead, anchor, lastSeq, lastHash, range.root()));
    for (const size of checkpointRoots.keys()) {
      if (size > lastSeq) failures.push({ seq: lastSeq + 1, reason: `the log ends at ${lastSeq} but a signed checkpoint covers ${size} records: records from ${lastSeq + 1} are missing` });
    }
    const head = snapshot.head;
    if (head && head.seq > lastSeq) failures.push({ seq: lastSeq + 1, reason: `the log ends at ${lastSeq} but its head says ${head.seq}: records from ${lastSeq + 1} are missing` });
    else if (head && head.seq < lastSeq) failures.push({ seq: head.seq + 1, reason: `record ${head.seq + 1} lies beyond the log's head (${head.seq})` });
    else if (head && lastHash !== undefined && head.hash !== lastHash) failures.push({ seq: lastSeq, reason: `the log's head hash does not match record ${lastSeq}` });
    if (!prunedAnchorNamed && anchor) failures.push({ seq: anchor.treeSize + 1, reason: `no retained audit.pruned record names the anchor at tree size ${anchor.treeSize}: records were removed outside the prune routine` });
  }
  for (const signer of noteSigners) {
    if (!vouched.has(signer.keyId)) failures.push({ seq: signer.seq, reason: `${signer.what} is signed by key ${signer.keyId}, which is not a trusted key (nor one a trusted key rotated to)` });
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
    keys: vouched.size,
    anchor: anchor ?? null,
    keptCheckpoint: kept ? { treeSize: kept.size, rootHash: kept.root.toString('hex') } : null,
    witness: options.witnessCheckpoints ? witnessSummary(keptList, beforeAnchorCount) : null,
    rotations,
  };

  /** An `audit.signing_key_rotated` record: its endorsement by a key already vouched for vouches for the new key. */
  function followRotation(record: AuditRecord): Failure | undefined {
    const data = record.data as { keyId?: unknown; endorsement?: unknown };
    if (typeof data.endorsement !== 'string') return { seq: record.seq, reason: 'key rotation carries no endorsement' };
    const vouchedKeys = new Map([...publicKeys].filter(([id]) => vouched.has(id)));
    const opened = openKeyRotation(data.endorsement, snapshot.origin, vouchedKeys);
    if (!opened.ok) return { seq: record.seq, reason: `key rotation is not endorsed by a ${pinned ? 'trusted' : 'known'} key: ${opened.reason}` };
    const { keyId } = opened.rotation;
    if (opened.signedBy !== record.keyId) return { seq: record.seq, reason: `key rotation endorsed by ${opened.signedBy} is recorded under key ${record.keyId}` };
    if (data.keyId !== keyId) return { seq: record.seq, reason: `key rotation record names key ${JSON.stringify(data.keyId)}, its endorsement ${keyId}` };
    if (!publicKeys.has(keyId)) return { seq: record.seq, reason: `key rotation to ${keyId}, a key the log does not list` };
    vouched.add(keyId);
    rotations += 1;
    return undefined;
  }

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
    if (index === undefined || !vouched.has(record.keyId)) {
      return { seq: record.seq, reason: pinned ? `signed by key ${JSON.stringify(record.keyId)}, which is not a trusted key (nor one a trusted key rotated to before this record)` : `signed by unknown key ${JSON.stringify(record.keyId)}` };
    }
    let computed: string;
    try {
      computed = recordHash(record);
    } catch (error) {
      return { seq: record.seq, reason: `record cannot be canonicalized: ${(error as Error).message}` };
    }
    if (computed !== record.hash) return { seq: record.seq, reason: 'hash does not match the record (a field was changed)' };
    if (record.event === 'audit.signing_key_rotated') {
      const failure = followRotation(record);
      if (failure) return failure;
    }
    const stored = batch.add(record.seq, record.hash, record.signature, index);
    if (!stored) return { seq: record.seq, reason: 'signature is malformed' };
    range.append(leafHash(stored));
    const signedRoot = checkpointRoots.get(record.seq);
    const keptHere = keptAt.get(record.seq);
    if (keptHere) for (const k of keptHere) if (!k.checkpoint.root.equals(range.root())) return { seq: record.seq, reason: forked(k, range.root()) };
    if (signedRoot && !signedRoot.equals(range.root())) return { seq: record.seq, reason: `the signed checkpoint of tree size ${record.seq} does not match records up to ${record.seq}` };
    return undefined;
  }
}

interface NoteSigner {
  seq: number;
  what: string;
  keyId: string;
}

const forked = ({ label, checkpoint: kept }: Kept, root: Buffer) =>
  `forked: the log's first ${kept.size} records do not match ${label} (root ${kept.root.toString('hex')}; the log's is ${root.toString('hex')})`;

function witnessSummary(keptList: readonly Kept[], beforeAnchorCount: number): NonNullable<Extract<VerifyReport, { ok: true }>['witness']> {
  const held = keptList.filter((k) => k.witness).map((k) => k.checkpoint);
  const largest = held.reduce<Checkpoint | undefined>((a, b) => (a && a.size >= b.size ? a : b), undefined);
  return { checked: held.length - beforeAnchorCount, beforeAnchor: beforeAnchorCount, largest: largest ? { treeSize: largest.size, rootHash: largest.root.toString('hex') } : null };
}

/** Why a kept checkpoint older than the retained records cannot be checked, and what to do instead. */
function beforeAnchor({ label, checkpoint: kept }: Kept, anchor: AuditAnchor, stored: Buffer | undefined): string {
  if (stored && !stored.equals(kept.root)) return `forked: the log's own signed checkpoint of tree size ${kept.size} has root ${stored.toString('hex')}, ${label} ${kept.root.toString('hex')}`;
  const gone = anchor.reason === 'pruned' ? `the log was pruned through tree size ${anchor.treeSize}` : `the export starts at tree size ${anchor.treeSize} (--since)`;
  const also = stored ? ` The log still holds a signed checkpoint of size ${kept.size} with the same root, but that is its own word, not a proof that later records extend it.` : '';
  return (
    `cannot check: ${label} covers ${kept.size} records and ${gone}; only the tree's right edge at ${anchor.treeSize} is kept, so the root at ${kept.size} cannot be recomputed.${also}` +
    ` Check it against an export made before the prune, or keep a checkpoint of tree size ${anchor.treeSize} or more.`
  );
}

function openKeptCheckpoint(label: string, note: string, origin: string, keys: ReadonlyMap<string, KeyObject>, pinned: boolean): { ok: true; checkpoint: Checkpoint; keyId: string } | { ok: false; reason: string } {
  const named = note.split('\n', 1)[0];
  if (named !== origin) return { ok: false, reason: `${label} is of log ${JSON.stringify(named)}, this one is ${origin}` };
  const opened = openCheckpoint(note, origin, keys);
  if (!opened.ok) return { ok: false, reason: `${label} does not verify with ${pinned ? 'the trusted keys' : "this log's keys"}: ${opened.reason}${pinned ? '' : ' (a log re-signed with another key lists that key instead: pass --trusted-key)'}` };
  return { ok: true, checkpoint: opened.checkpoint, keyId: opened.keyId };
}

/**
 * Each numbered checkpoint's signed link must name the one before it and its own place in
 * the sequence, and the latest number must reach what the head counts: a checkpoint
 * deleted anywhere is reported, with the number and tree size it had.
 */
function checkCheckpointChain(snapshot: AuditLogSnapshot, roots: ReadonlyMap<number, Buffer>, keys: ReadonlyMap<string, KeyObject>, count: number, counter: string, noteSigners: NoteSigner[]): Failure[] {
  const failures: Failure[] = [];
  const sorted = [...snapshot.checkpoints].sort((a, b) => a.treeSize - b.treeSize);
  let previous = { treeSize: 0, root: emptyRoot() };
  let numbered = false;
  for (const [i, checkpoint] of sorted.entries()) {
    const root = roots.get(checkpoint.treeSize);
    const at = `checkpoint of tree size ${checkpoint.treeSize}`;
    if (!checkpoint.link) {
      if (numbered) failures.push({ seq: checkpoint.treeSize, reason: `${at} has no signed link, yet follows numbered checkpoints` });
    } else {
      const opened = openCheckpointLink(checkpoint.link, snapshot.origin, keys);
      if (!opened.ok) failures.push({ seq: checkpoint.treeSize, reason: `${at}: its link ${opened.reason}` });
      else {
        const { link } = opened;
        noteSigners.push({ seq: checkpoint.treeSize, what: `the link of checkpoint #${link.number}`, keyId: opened.keyId });
        if (link.treeSize !== checkpoint.treeSize || !root || !link.root.equals(root)) failures.push({ seq: checkpoint.treeSize, reason: `${at}: its link is for another checkpoint` });
        else if (link.previous.treeSize !== previous.treeSize || !link.previous.root.equals(previous.root)) {
          failures.push(
            link.previous.treeSize > previous.treeSize
              ? { seq: link.previous.treeSize, reason: `checkpoint #${link.number - 1} (tree size ${link.previous.treeSize}) is missing: checkpoint #${link.number} (tree size ${checkpoint.treeSize}) follows it` }
              : { seq: checkpoint.treeSize, reason: `checkpoint #${link.number} (tree size ${checkpoint.treeSize}) follows one at tree size ${link.previous.treeSize} that the log does not hold` },
          );
        } else if (link.number !== i + 1) failures.push({ seq: checkpoint.treeSize, reason: `checkpoint #${link.number} (tree size ${checkpoint.treeSize}) is only the log's ${i + 1}th: ${link.number - i - 1} earlier checkpoints are missing` });
      }
      numbered = true;
    }
    previous = { treeSize: checkpoint.treeSize, root: root ?? emptyRoot() };
  }
  if (sorted.length < count) failures.push({ seq: previous.treeSize + 1, reason: `checkpoints #${sorted.length + 1}–#${count} are missing: ${counter} counts ${count} signed checkpoints, ${sorted.length} are present` });
  return failures;
}

/** An export's records must be exactly those its signed head announces. */
function checkSignedHead(head: ExportHead, anchor: AuditAnchor | undefined, lastSeq: number, lastHash: string | undefined, root: Buffer): Failure[] {
  const start = anchor?.treeSize ?? 0;
  if (head.start !== start) return [{ seq: start + 1, reason: `the export's signed head says its records start after ${head.start}, the file's start after ${start}` }];
  if (lastSeq < head.treeSize) return [{ seq: lastSeq + 1, reason: `cut back: the export holds records up to ${lastSeq}, its signed head announces ${head.treeSize}: records from ${lastSeq + 1} are missing` }];
  if (lastSeq > head.treeSize) return [{ seq: head.treeSize + 1, reason: `record ${head.treeSize + 1} lies beyond the export's signed head (${head.treeSize})` }];
  if (!root.equals(head.root) || (lastHash !== undefined && lastHash !== head.headHash)) return [{ seq: lastSeq, reason: `the records do not match the export's signed head (root ${head.root.toString('hex')}, the records give ${root.toString('hex')})` }];
  return [];
}
