/**
 * The floor of the callback bench, one sample per message, on a worker thread of its own:
 * one transaction committing a callback-sized row (through the project's openDatabase, on the
 * same database kind as the server), one Ed25519 signature with the project's signer over an
 * event's canonical form, and one loopback POST of a callback-sized body on a kept-alive
 * connection to a receiver on this same thread (as the floor was measured before the bench
 * used threads: no wake-up of another thread in it). Its own thread (and heap): an in-process
 * PGlite makes garbage whose collection would otherwise pause the thread that times the server.
 */
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { sql } from 'kysely';
import pino from 'pino';
import { openDatabase, type DatabaseTarget } from '../../src/db/open-database.ts';
import { canonicalJson } from '../../src/primitives/canonical-json.ts';
import { signerFromPem } from '../../src/primitives/signing-key.ts';
import { loopbackPost } from './loopback-post.ts';

export interface FloorSample {
  commit: number;
  sign: number;
  post: number;
  sum: number;
}
export type FloorRequest = { type: 'sample'; body: string } | { type: 'close' };

const port = parentPort!;
const database = await openDatabase(workerData as DatabaseTarget, pino({ level: 'silent' }));
await sql`create table if not exists bench_floor (id text primary key, body jsonb not null, created_at timestamptz not null default now())`.execute(database.db);
const signer = signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
const agent = new http.Agent({ keepAlive: true });
const receiver = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.writeHead(204).end());
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/floor`;
let n = 0;

async function sample(body: string): Promise<FloorSample> {
  const id = `floor_${n++}`;
  const t0 = performance.now();
  await database.db.transaction().execute(async (trx) => {
    await sql`insert into bench_floor (id, body) values (${id}, ${body}::jsonb)`.execute(trx);
  });
  const t1 = performance.now();
  signer.sign(canonicalJson({ id, status: 'approved', project: 'bench', action: 'send_email', payloadHash: 'sha256:00', decision: { outcome: 'approved', by: ['alice'] } }));
  const t2 = performance.now();
  await loopbackPost(agent, url, body);
  const t3 = performance.now();
  return { commit: t1 - t0, sign: t2 - t1, post: t3 - t2, sum: t3 - t0 };
}

port.on('message', (message: FloorRequest) => {
  if (message.type === 'sample') {
    sample(message.body).then((result) => port.postMessage(result), (error: unknown) => port.postMessage({ error: String(error) }));
    return;
  }
  agent.destroy();
  receiver.close();
  receiver.closeAllConnections();
  void signer
    .close()
    .then(() => database.close())
    .finally(() => port.close());
});
port.postMessage('ready');
