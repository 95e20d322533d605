import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunningServices } from '../start-services.ts';
import { adminSocketPath, startAdminSocket, type CommandRunner } from './admin-socket.ts';
import { createApp } from './create-app.ts';

export interface RunningServer {
  readonly url: string;
  /** Stops taking requests, lets in-flight ones finish, then stops jobs and closes the database. */
  close(): Promise<void>;
}

/**
 * Starts HTTP (and, on the embedded database, the admin socket). An accepted request has
 * committed before its 202 is sent, so shutting down loses nothing the agent was told was taken.
 */
export async function runServer(services: RunningServices, options: { runCommand?: CommandRunner } = {}): Promise<RunningServer> {
  const { config, logger } = services;
  const app = createApp(services);
  const server = http.createServer(app.callback());
  // Long polls hold a request up to 60 s; keep the socket open past that.
  server.requestTimeout = 90_000;
  server.headersTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  const closeAdmin =
    services.database.kind === 'pglite' && options.runCommand ? await startAdminSocket(config.dataDir, options.runCommand, logger) : undefined;
  if (closeAdmin) logger.info({ socket: adminSocketPath(config.dataDir) }, 'CLI commands reach this server through its admin socket');
  logger.info({ url, database: services.database.kind }, 'countersign is listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        logger.info('shutting down: finishing in-flight requests');
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // Long polls answer early rather than hold shutdown for a minute.
          void services.events.stop();
        });
        await closeAdmin?.();
        await services.stop();
        logger.info('stopped');
      })();
      return closing;
    },
  };
}
