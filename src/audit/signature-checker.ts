import { createRequire } from 'node:module';
import os from 'node:os';
import { startWorkerCalls } from '../primitives/worker-calls.ts';

/**
 * Checks Ed25519 signatures in batches, inline or on worker threads. Signature checks are
 * three quarters or more of `audit verify`'s CPU (≈ 10k/s per core with libsodium against SHA-256's 300k/s),
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

/**
 * Which library checks the signatures. libsodium (sodium-native, prebuilt for the common
 * platforms) checks an Ed25519 signature in about half the CPU of node:crypto (OpenSSL):
 * 90-103 µs against 176-188 on this project's 2-core machine, and signature checks are most
 * of a verify (a million records: 64 s against 105). It accepts no signature that OpenSSL rejects
 * (both check [S]B = R + [k]A with S < L; libsodium also refuses small-order keys and R, which
 * no honest signer makes). Where it does not load, node:crypto checks the same signatures.
 */
export type SignatureLibrary = 'libsodium' | 'node:crypto';

const requireHere = createRequire(import.meta.url);

/** Where sodium-native is, for the worker threads (an eval'd worker's `require` resolves from the cwd, and the CLI runs from anywhere). */
export const SODIUM_PATH: string | undefined = (() => {
  try {
    return requireHere.resolve('sodium-native');
  } catch {
    return undefined;
  }
})();

// Kept as source text and shared by both checkers: the worker's copy runs from text (see
// worker-calls.ts). Given the keys' PEMs, where sodium-native is and `require`, it gives the
// library it loaded and the check of a packed batch.
const VERIFIER_SOURCE = `
  const { createPublicKey, verify } = require('node:crypto');
  const keyObjects = publicKeys.map((pem) => createPublicKey(pem));
  let sodium;
  try {
    sodium = library === 'libsodium' && sodiumPath ? require(sodiumPath) : undefined;
  } catch {
    sodium = undefined;
  }
  // libsodium takes the raw 32 bytes of the key: its JWK's x.
  const rawKeys = sodium ? keyObjects.map((key) => (key.asymmetricKeyType === 'ed25519' ? Buffer.from(key.export({ format: 'jwk' }).x, 'base64url') : undefined)) : [];
  const valid = sodium
    ? (message, signature, k) => rawKeys[k] !== undefined && sodium.crypto_sign_verify_detached(signature, message, rawKeys[k])
    : (message, signature, k) => keyObjects[k] !== undefined && verify(null, message, keyObjects[k], signature);
  return {
    library: sodium ? 'libsodium' : 'node:crypto',
    firstInvalid(batch) {
      for (let i = 0; i * 98 < batch.length; i += 1) {
        const at = i * 98;
        let ok = false;
        try {
          ok = valid(batch.subarray(at, at + 32), batch.subarray(at + 32, at + 96), batch.readUInt16BE(at + 96));
        } catch {
          ok = false;
        }
        if (!ok) return i;
      }
      return -1;
    },
  };
`;

interface Verifier {
  library: SignatureLibrary;
  firstInvalid(batch: Buffer): number;
}
type MakeVerifier = (publicKeys: readonly string[], library: SignatureLibrary, sodiumPath: string | undefined, load: NodeJS.Require) => Verifier;
const makeVerifier = new Function('publicKeys', 'library', 'sodiumPath', 'require', VERIFIER_SOURCE) as MakeVerifier;

const HANDLER_SOURCE = `
const verifier = new Function('publicKeys', 'library', 'sodiumPath', 'require', ${JSON.stringify(VERIFIER_SOURCE)})(workerData.publicKeys, workerData.library, workerData.sodiumPath, require);
function handle(batch) {
  return { reply: verifier.firstInvalid(Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength)) };
}
`;

/** The library a checker uses unless told: libsodium where it loads. */
export function signatureLibrary(): SignatureLibrary {
  return makeVerifier([], 'libsodium', SODIUM_PATH, requireHere).library;
}

/** Checks on the calling thread: for small logs and tests. */
export function createInlineSignatureChecker(publicKeys: readonly string[], library: SignatureLibrary = 'libsodium'): SignatureChecker {
  const verifier = makeVerifier(publicKeys, library, SODIUM_PATH, requireHere);
  return {
    check: async (batch) => verifier.firstInvalid(batch),
    close: async () => undefined,
  };
}

/** One thread per core: the main thread's share (reading, hashing) is small enough that the workers take the rest. */
export const signatureThreads = (): number => Math.max(1, os.availableParallelism());

/** Checks on `threads` worker threads; each batch goes to the one with the fewest batches out, so a thread the OS slows is not queued behind. */
export function createWorkerSignatureChecker(publicKeys: readonly string[], threads: number, library: SignatureLibrary = 'libsodium'): SignatureChecker {
  const workerData = { publicKeys: [...publicKeys], library, sodiumPath: SODIUM_PATH };
  const workers = Array.from({ length: Math.max(1, threads) }, () => ({ calls: startWorkerCalls<Uint8Array, number>('signature check', HANDLER_SOURCE, workerData), out: 0 }));
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
