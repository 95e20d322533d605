import fs from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { Logger } from 'pino';

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
          const request = JSON.parse(Buffer.concat(chunks).toString()) as CommandRequest;
          result = await run(request);
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
