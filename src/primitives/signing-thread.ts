import { sign, type KeyObject } from 'node:crypto';
import { startWorkerCalls, type WorkerCalls } from './worker-calls.ts';

/**
 * Signs batches of audit hashes on a worker thread. An Ed25519 signature costs ~35 µs of
 * CPU here, the largest part of chaining a record: on the event loop a batch of 250 would
 * stall every request in flight for ~9 ms. (On a 2-core machine that PostgreSQL shares, the
 * throughput gain measured within noise: the CPU is spent either way; with more cores it
 * is not taken from the requests.)
 *
 * The thread starts on first use, holds the process open only while a batch is out, and
 * is started again after `close()` or a crash (that batch's caller gets the error).
 */
export interface SigningThread {
  /** Ed25519 signatures over each of `data`, in order. */
  signAll(data: readonly Buffer[]): Promise<Buffer[]>;
  /** Stops the thread (a later `signAll` starts a new one). */
  close(): Promise<void>;
}

/** Below this many items a batch is signed in place: a hand-off to the thread costs more than a few signatures. */
const INLINE_BELOW = 8;

// Items travel packed in one transferred buffer each way (lengths first), not as an array of
// buffers: cloning hundreds of small buffers cost more than signing a few of them.
const HANDLER_SOURCE = `
const { sign } = require('node:crypto');
function handle({ packed, count }) {
  const input = Buffer.from(packed);
  const signatures = new Uint8Array(count * 64);
  let at = count * 4;
  for (let i = 0; i < count; i += 1) {
    const length = input.readUInt32BE(i * 4);
    signatures.set(sign(null, input.subarray(at, at + length), workerData.privateKey), i * 64);
    at += length;
  }
  return { reply: signatures, transfer: [signatures.buffer] };
}
`;

/** `data` as one buffer: a 4-byte length per item, then the items. */
function pack(data: readonly Buffer[]): Uint8Array<ArrayBuffer> {
  const packed = new Uint8Array(data.length * 4 + data.reduce((sum, item) => sum + item.length, 0));
  const view = new DataView(packed.buffer);
  let at = data.length * 4;
  data.forEach((item, i) => {
    view.setUint32(i * 4, item.length);
    packed.set(item, at);
    at += item.length;
  });
  return packed;
}

export function createSigningThread(privateKey: KeyObject): SigningThread {
  let thread: WorkerCalls<{ packed: Uint8Array; count: number }, Uint8Array> | undefined;
  return {
    async signAll(data) {
      if (data.length < INLINE_BELOW) return data.map((item) => sign(null, item, privateKey));
      if (!thread?.alive) thread = startWorkerCalls('audit signing', HANDLER_SOURCE, { privateKey });
      const packed = pack(data);
      const signatures = Buffer.from((await thread.call({ packed, count: data.length }, [packed.buffer])).buffer);
      return data.map((_, i) => signatures.subarray(i * 64, i * 64 + 64));
    },
    async close() {
      const stopping = thread;
      thread = undefined;
      await stopping?.terminate();
    },
  };
}
