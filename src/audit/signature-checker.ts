import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import os from 'node:os';
import { startWorkerCalls } from '../primitives/worker-calls.ts';

/**
 * Checks Ed25519 signatures in batches, inline or on worker threads. Signature checks are
 * nine tenths of `audit verify`'s CPU (verify ≈ 10k/s per core against SHA-256's 300k/s),
 * so spreading them over the cores is what makes a million-record log verify in minutes.
 *
 * A batch is packed into one transferable buffer: per item 32 bytes of hash, 64 of
 * signature and a 2-byte index into `publicKeys`.
 */
export interface SignatureChecker {
  /** Resolves with the index of the first item whose signature fails, or -1. */
  check(batch: Buffer): Promise<number>;
  close(): Promise<void>;
}

export const SIGNATURE_ITEM_BYTES = 32 + 64 + 2;

/**
 * A batch being filled for `check`, one record at a time, straight into the buffer that is
 * then transferred to a worker (no per-item objects, no copy on the way out).
 */
export interface SignatureBatch {
  readonly size: number;
  /**
   * Adds an item; returns the 32 bytes of `hashHex` as stored in the batch (a view: read it
   * before `take`), or undefined, adding nothing, when the signature is not 64 bytes of base64.
   */
  add(seq: number, hashHex: string, signatureBase64: string, keyIndex: number): Buffer | undefined;
  /** The packed items and their sequence numbers; the batch starts empty again. */
  take(): { packed: Buffer; seqs: number[]; keyIndexes: number[] };
}

export function createSignatureBatch(capacity: number): SignatureBatch {
  // allocUnsafeSlow: a buffer of its own (not a slice of Node's pool), so it can be transferred.
  const fresh = () => Buffer.allocUnsafeSlow(capacity * SIGNATURE_ITEM_BYTES);
  let packed = fresh();
  let seqs: number[] = [];
  let keyIndexes: number[] = [];
  return {
    get size() {
      return seqs.length;
    },
    add(seq, hashHex, signatureBase64, keyIndex) {
      const at = seqs.length * SIGNATURE_ITEM_BYTES;
      // Decoded straight into its slot, without a Buffer of its own: exactly Buffer.from's length test,
      // as Buffer.from decodes into byteLength's bytes and keeps those written.
      if (Buffer.byteLength(signatureBase64, 'base64') !== 64 || packed.write(signatureBase64, at + 32, 64, 'base64') !== 64) return undefined;
      packed.write(hashHex, at, 32, 'hex');
      packed.writeUInt16BE(keyIndex, at + 96);
      seqs.push(seq);
      keyIndexes.push(keyIndex);
      return packed.subarray(at, at + 32);
    },
    take() {
      const taken = { packed: packed.subarray(0, seqs.length * SIGNATURE_ITEM_BYTES), seqs, keyIndexes };
      packed = fresh();
      seqs = [];
      keyIndexes = [];
      return taken;
    },
  };
}

/** Packs items for `check`. */
export function packSignatureItems(items: ReadonlyArray<{ seq?: number; hash: Buffer; signature: Buffer; keyIndex: number }>): Buffer {
  const batch = createSignatureBatch(items.length);
  for (const item of items) if (!batch.add(item.seq ?? 0, item.hash.toString('hex'), item.signature.toString('base64'), item.keyIndex)) throw new RangeError('a signature is 64 bytes');
  return batch.take().packed;
}

// The loop is kept as source text and shared by both checkers: the worker's copy runs from
// text (see worker-calls.ts).
const FIRST_INVALID_BODY = `
  for (let i = 0; i * 98 < batch.length; i += 1) {
    const at = i * 98;
    const key = keys[batch.readUInt16BE(at + 96)];
    let valid = false;
    try {
      valid = key !== undefined && check(null, batch.subarray(at, at + 32), key, batch.subarray(at + 32, at + 96));
    } catch {
      valid = false;
    }
    if (!valid) return i;
  }
  return -1;
`;

type FirstInvalid = (batch: Buffer, keys: KeyObject[], check: typeof verify) => number;
const firstInvalid = new Function('batch', 'keys', 'check', FIRST_INVALID_BODY) as FirstInvalid;

const HANDLER_SOURCE = `
const { createPublicKey, verify } = require('node:crypto');
const keys = workerData.publicKeys.map((pem) => createPublicKey(pem));
const firstInvalid = new Function('batch', 'keys', 'check', ${JSON.stringify(FIRST_INVALID_BODY)});
function handle(batch) {
  return { reply: firstInvalid(Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength), keys, verify) };
}
`;

/** Checks on the calling thread: for small logs and tests. */
export function createInlineSignatureChecker(publicKeys: readonly string[]): SignatureChecker {
  const keys = publicKeys.map((pem) => createPublicKey(pem));
  return {
    check: async (batch) => firstInvalid(batch, keys, verify),
    close: async () => undefined,
  };
}

/** One thread per core: the main thread's share (reading, hashing) is small enough that the workers take the rest. */
export const signatureThreads = (): number => Math.max(1, os.availableParallelism());

/** Checks on `threads` worker threads; each batch goes to the one with the fewest batches out, so a thread the OS slows is not queued behind. */
export function createWorkerSignatureChecker(publicKeys: readonly string[], threads: number): SignatureChecker {
  const workers = Array.from({ length: Math.max(1, threads) }, () => ({ calls: startWorkerCalls<Uint8Array, number>('signature check', HANDLER_SOURCE, { publicKeys: [...publicKeys] }), out: 0 }));
  return {
    async check(batch) {
      const worker = workers.reduce((a, b) => (b.out < a.out ? b : a));
      // A buffer that is its own whole ArrayBuffer (createSignatureBatch's) is transferred as is; any other is copied first (a Buffer may share Node's pool).
      const own = batch.byteOffset === 0 && batch.byteLength === batch.buffer.byteLength && batch.buffer instanceof ArrayBuffer;
      const message = own ? new Uint8Array(batch.buffer, 0, batch.byteLength) : new Uint8Array(batch);
      worker.out += 1;
      try {
        return await worker.calls.call(message, [message.buffer]);
      } finally {
        worker.out -= 1;
      }
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.calls.terminate()));
    },
  };
}
