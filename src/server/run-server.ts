import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, type Config } from '../config/config.ts';
import type { RunningServices } from '../start-services.ts';
import { adminSocketPath, startAdminSocket, type CommandRunner } from './admin-socket.ts';
import { createApp } from './create-app.ts';

export interface RunningServer {
  readonly url: string;
  /** Stops taking requests, lets in-flight ones finish, then stops jobs and closes the database. */
  close(): Promise<void>;
}

/** An HTTP listener bound to HOST:PORT that answers 503 until the app is attached. */
export interface HttpListener {
  readonly server: http.Server;
  readonly url: string;
  attach(handler: http.RequestListener): void;
}

/**
 * Binds HOST:PORT before anything else starts, so a port in use or a bad HOST fails at once,
 * before the database is opened or its lock taken. A setting that can never work (a HOST that
 * does not resolve or is not this machine's, a privileged PORT) is a ConfigError; a port some
 * other process holds is a plain Error.
 */
export async function listenHttp(config: Pick<Config, 'host' | 'port'>): Promise<HttpListener> {
  let handler: http.RequestListener = (_req, res) => {
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
    res.end(JSON.stringify({ error: { code: 'not_ready', message: 'countersign is starting' } }));
  };
  const server = http.createServer((req, res) => handler(req, res));
  // Long polls hold a request up to 60 s; keep the socket open past that.
  server.requestTimeout = 90_000;
  server.headersTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(listenError(error, config)));
    server.listen(config.port, config.host, resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    server,
    url: `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`,
    attach(next) {
      handler = next;
    },
  };
}

function listenError(error: NodeJS.ErrnoException, { host, port }: Pick<Config, 'host' | 'port'>): Error {
  const where = `${host}:${port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new Error(`cannot listen on ${where}: another process is using port ${port}; stop it or set PORT to a free port`, { cause: error });
    case 'EADDRNOTAVAIL':
      return new ConfigError(`HOST: ${host} is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its own addresses`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new ConfigError(`HOST: ${host} does not resolve to an address (${error.code}); use an IP address or a name this machine resolves`);
    case 'EACCES':
      return new ConfigError(`PORT: ${port} needs privileges this process lacks; use a port above 1023`);
    default:
      return new Error(`cannot listen on ${where}: ${error.message}`, { cause: error });
  }
}

/**
 * Starts HTTP (and, on the embedded database, the admin socket). An accepted request has
 * committed before its 202 is sent, so shutting down loses nothing the agent was told was taken.
 * `listener`: one bound earlier with listenHttp (the CLI's `serve` binds before opening the database).
 */
export async function runServer(services: RunningServices, options: { runCommand?: CommandRunner; listener?: HttpListener } = {}): Promise<RunningServer> {
  const { config, logger } = services;
  const app = createApp(services);
  const { server, url, attach } = options.listener ?? (await listenHttp(config));
  const closeAdmin =
    services.database.kind === 'pglite' && options.runCommand ? await startAdminSocket(config.dataDir, options.runCommand, logger) : undefined;
  if (closeAdmin) logger.info({ socket: adminSocketPath(config.dataDir) }, 'CLI commands reach this server through its admin socket');
  // Ready (`/readyz` 200) only once the admin socket answers too: a CLI command run the moment
  // the server looks ready must reach it, not find the directory locked and no socket.
  attach(app.callback());
  logger.info({ url, database: services.database.kind }, 'countersign is listening');
  // The newcomer's next step: the page reviewers use, and how to get into it without SMTP.
  logger.info({ inbox: `${url}/inbox` }, `web inbox at ${url}/inbox (sign in with: npx countersign login-link --person ID)`);

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
