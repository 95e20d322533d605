import { sign, type KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';

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

// Plain CommonJS passed as text (`eval`): it runs the same under tsx, vitest and plain node,
// where a .ts worker file would need the TypeScript loader in every thread.
// Items travel packed in one transferred buffer each way (lengths first), not as an array of
// buffers: cloning hundreds of small buffers cost more than signing a few of them.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { sign } = require('node:crypto');
parentPort.on('message', ({ id, packed, count }) => {
  const input = Buffer.from(packed);
  const signatures = new Uint8Array(count * 64);
  let at = count * 4;
  for (let i = 0; i < count; i += 1) {
    const length = input.readUInt32BE(i * 4);
    signatures.set(sign(null, input.subarray(at, at + length), workerData.privateKey), i * 64);
    at += length;
  }
  parentPort.postMessage({ id, signatures }, [signatures.buffer]);
});
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

interface Running {
  worker: Worker;
  waiting: Map<number, { resolve: (signatures: Uint8Array) => void; reject: (error: Error) => void }>;
}

export function createSigningThread(privateKey: KeyObject): SigningThread {
  let running: Running | undefined;
  let nextId = 0;

  const start = (): Running => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { privateKey } });
    const started: Running = { worker, waiting: new Map() };
    worker.unref();
    const fail = (error: Error) => {
      if (running === started) running = undefined;
      for (const { reject } of started.waiting.values()) reject(error);
      started.waiting.clear();
    };
    worker.on('message', ({ id, signatures }: { id: number; signatures: Uint8Array }) => {
      const request = started.waiting.get(id);
      started.waiting.delete(id);
      if (started.waiting.size === 0) worker.unref();
      request?.resolve(signatures);
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the audit signing thread exited (code ${code})`)));
    return started;
  };

  return {
    async signAll(data) {
      if (data.length < INLINE_BELOW) return data.map((item) => sign(null, item, privateKey));
      running ??= start();
      const { worker, waiting } = running;
      const id = nextId++;
      const signed = new Promise<Uint8Array>((resolve, reject) => waiting.set(id, { resolve, reject }));
      const packed = pack(data);
      worker.ref();
      worker.postMessage({ id, packed, count: data.length }, [packed.buffer]);
      const signatures = Buffer.from((await signed).buffer);
      return data.map((_, i) => signatures.subarray(i * 64, i * 64 + 64));
    },
    async close() {
      const stopping = running;
      running = undefined;
      if (stopping) await stopping.worker.terminate();
    },
  };
}
