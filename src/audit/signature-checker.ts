import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';

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

/** Packs items for `check`. */
export function packSignatureItems(items: ReadonlyArray<{ hash: Buffer; signature: Buffer; keyIndex: number }>): Buffer {
  const buffer = Buffer.alloc(items.length * SIGNATURE_ITEM_BYTES);
  items.forEach((item, i) => {
    const at = i * SIGNATURE_ITEM_BYTES;
    item.hash.copy(buffer, at);
    item.signature.copy(buffer, at + 32);
    buffer.writeUInt16BE(item.keyIndex, at + 96);
  });
  return buffer;
}

// The loop is kept as source text and shared by both checkers: the worker is plain
// CommonJS passed as text (`eval`), so it runs the same under tsx, vitest and plain node,
// where a .ts worker file would need the TypeScript loader in every thread.
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

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const keys = workerData.publicKeys.map((pem) => createPublicKey(pem));
const firstInvalid = new Function('batch', 'keys', 'check', ${JSON.stringify(FIRST_INVALID_BODY)});
parentPort.on('message', ({ id, batch }) => {
  parentPort.postMessage({ id, failed: firstInvalid(Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength), keys, verify) });
});
`;

/** Checks on the calling thread: for small logs and tests. */
export function createInlineSignatureChecker(publicKeys: readonly string[]): SignatureChecker {
  const keys = publicKeys.map((pem) => createPublicKey(pem));
  return {
    check: async (batch) => firstInvalid(batch, keys, verify),
    close: async () => undefined,
  };
}

/** Checks on `threads` worker threads, batches handed out round-robin. */
export function createWorkerSignatureChecker(publicKeys: readonly string[], threads: number): SignatureChecker {
  const pending = new Map<number, { resolve: (failed: number) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  const workers = Array.from({ length: Math.max(1, threads) }, () => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { publicKeys: [...publicKeys] } });
    worker.on('message', ({ id, failed }: { id: number; failed: number }) => {
      pending.get(id)?.resolve(failed);
      pending.delete(id);
    });
    worker.on('error', (error) => {
      for (const { reject } of pending.values()) reject(error);
      pending.clear();
    });
    return worker;
  });
  return {
    check(batch) {
      const id = nextId++;
      const worker = workers[id % workers.length]!;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        // Copy into a fresh ArrayBuffer we can transfer (a Buffer may share Node's pool).
        const copy = new Uint8Array(batch);
        worker.postMessage({ id, batch: copy }, [copy.buffer]);
      });
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}
