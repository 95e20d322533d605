import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { unsafeTextReason } from '../primitives/safe-text.ts';
import { formatIssues } from '../primitives/validation.ts';

/**
 * With the embedded database only one process may open the data directory, so while the
 * server runs, the CLI hands its command line to the server over this Unix socket and the
 * server runs the very same command in-process. The socket lives inside the data
 * directory (mode 0700): whoever can reach it could read the database files anyway.
 */
export const adminSocketPath = (dataDir: string) => path.join(dataDir, 'admin.sock');

export interface CommandRequest {
  argv: string[];
  cwd: string;
}

export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type CommandRunner = (request: CommandRequest) => Promise<CommandResult>;

const commandRequestSchema = z.strictObject({ argv: z.array(z.string().max(65_536)).max(200), cwd: z.string().min(1).max(4096) });
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The command line a client sent, or why it is refused. A real argv can hold neither NUL nor
 * lone surrogates, but anything that can reach the socket can send them in JSON; they are
 * refused here, as any other bad input, before a command runs.
 */
function readCommandRequest(body: Buffer): CommandRequest | string {
  let raw: unknown;
  try {
    raw = JSON.parse(utf8.decode(body)) as unknown;
  } catch {
    return 'admin socket: the request is not UTF-8 JSON';
  }
  const parsed = commandRequestSchema.safeParse(raw);
  if (!parsed.success) return `admin socket: ${formatIssues(parsed.error).join('; ')}`;
  for (const [i, arg] of [...parsed.data.argv.entries(), [-1, parsed.data.cwd] as const]) {
    const reason = unsafeTextReason(arg);
    if (reason) return `admin socket: ${i === -1 ? 'cwd' : `argv[${i}]`} ${reason}`;
  }
  return parsed.data;
}

export async function startAdminSocket(dataDir: string, run: CommandRunner, logger: Logger): Promise<() => Promise<void>> {
  const socketPath = adminSocketPath(dataDir);
  // We hold the data directory's lock, so a socket file left here is a dead server's.
  await fs.rm(socketPath, { force: true });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        let result: CommandResult;
        try {
          const request = readCommandRequest(Buffer.concat(chunks));
          result = typeof request === 'string' ? { exitCode: 2, stdout: '', stderr: `countersign: ${request}\n` } : await run(request);
        } catch (error) {
          logger.error({ err: error }, 'admin command failed');
          result = { exitCode: 1, stdout: '', stderr: `${(error as Error).message}\n` };
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(result));
      })();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  await fs.chmod(socketPath, 0o600);
  return () =>
    new Promise<void>((resolve) => {
      // Commands already running finish (they are short); only idle connections are cut.
      server.close(() => resolve());
      server.closeIdleConnections();
    });
}

/** Sends a command line to the running server; undefined when no server answers on the socket. */
export async function forwardToServer(dataDir: string, request: CommandRequest): Promise<CommandResult | undefined> {
  const body = JSON.stringify(request);
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: adminSocketPath(dataDir), method: 'POST', path: '/run', headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString()) as CommandResult);
        } catch (error) {
          reject(error as Error);
        }
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') resolve(undefined);
      else reject(error);
    });
    req.end(body);
  });
}
