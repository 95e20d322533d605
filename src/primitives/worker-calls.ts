import { Worker, type Transferable } from 'node:worker_threads';

/**
 * Calls to a worker thread, each answered by one reply: what the audit's signature checks
 * and signing run on. The thread holds the process open only while calls are out; when it
 * fails or exits, the calls out are rejected and `alive` turns false.
 */
export interface WorkerCalls<In, Out> {
  call(message: In, transfer?: readonly Transferable[]): Promise<Out>;
  readonly alive: boolean;
  terminate(): Promise<void>;
}

/**
 * Starts a thread running `handlerSource`: plain CommonJS that defines
 * `function handle(message)` returning `{ reply, transfer? }`, with `workerData` in scope.
 * Passed as text (`eval`), it runs the same under tsx, vitest and plain node, where a .ts
 * worker file would need the TypeScript loader in every thread.
 */
export function startWorkerCalls<In, Out>(name: string, handlerSource: string, workerData: unknown): WorkerCalls<In, Out> {
  const source = `
const { parentPort, workerData } = require('node:worker_threads');
${handlerSource}
parentPort.on('message', ({ id, message }) => {
  const { reply, transfer } = handle(message);
  parentPort.postMessage({ id, reply }, transfer ?? []);
});
`;
  const worker = new Worker(source, { eval: true, workerData });
  const waiting = new Map<number, { resolve: (reply: Out) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  let alive = true;
  worker.unref();
  const fail = (error: Error) => {
    alive = false;
    for (const { reject } of waiting.values()) reject(error);
    waiting.clear();
  };
  worker.on('message', ({ id, reply }: { id: number; reply: Out }) => {
    const call = waiting.get(id);
    waiting.delete(id);
    if (waiting.size === 0) worker.unref();
    call?.resolve(reply);
  });
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`the ${name} thread exited (code ${code})`)));
  return {
    call(message, transfer = []) {
      if (!alive) return Promise.reject(new Error(`the ${name} thread has exited`));
      const id = nextId++;
      return new Promise<Out>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.ref();
        worker.postMessage({ id, message }, transfer);
      });
    },
    get alive() {
      return alive;
    },
    async terminate() {
      await worker.terminate();
    },
  };
}
