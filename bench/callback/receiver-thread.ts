/**
 * The callback receiver of the callback bench, on a worker thread of its own: a plain node:http
 * server, as an agent would run one, that stamps each arrival and tells the bench's main
 * thread. Its own thread, so that the main thread's garbage collections (its HTTP client, its
 * work between samples) never delay an arrival's stamp: they are not the server's time.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort } from 'node:worker_threads';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across threads (each has its own timeOrigin). */
const now = () => performance.timeOrigin + performance.now();

export type ReceiverMessage = { type: 'listening'; port: number } | { type: 'arrival'; id: string; at: number; body: string };

const port = parentPort!;
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const at = now();
    res.writeHead(204).end();
    const body = Buffer.concat(chunks).toString();
    const id = (JSON.parse(body) as { data: { id: string } }).data.id;
    port.postMessage({ type: 'arrival', id, at, body } satisfies ReceiverMessage);
  });
});
server.listen(0, '127.0.0.1', () => port.postMessage({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies ReceiverMessage));
port.on('message', (message: 'close') => {
  if (message !== 'close') return;
  server.close();
  server.closeAllConnections();
  port.close();
});
