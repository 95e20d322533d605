import { ConfigError, resolveConfig, type Config } from '../config.ts';
import { createLogger } from '../logger.ts';
import { forwardToServer, type CommandRequest, type CommandResult } from '../server/admin-socket.ts';
import { runServer } from '../server/run-server.ts';
import type { Services } from '../services.ts';
import { DataDirLockedError, startServices, type RunningServices } from '../start-services.ts';
import type { CliRuntime } from './cli-runtime.ts';
import { runCli } from './run-cli.ts';

/** The `countersign` executable. */
export async function main(argv: string[]): Promise<number> {
  let config: Config;
  try {
    config = resolveConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`countersign: ${error.message}\n`);
      return 2;
    }
    throw error;
  }

  const isServe = argv[0] === 'serve';
  // The embedded database belongs to the running server: hand it the command line.
  if (!isServe && !config.databaseUrl) {
    // Only "no server here" falls back to opening the directory: after a broken exchange the
    // command may already have run in the server, and running it again could do it twice.
    const forwarded = await forwardToServer(config.dataDir, { argv, cwd: process.cwd() }).catch((error: Error) => error);
    if (forwarded instanceof Error) {
      process.stderr.write(`countersign: lost the connection to the running server (${forwarded.message}); check whether the command took effect before retrying\n`);
      return 1;
    }
    if (forwarded) return printResult(forwarded);
  }

  let services: RunningServices | undefined;
  const runtime: CliRuntime = {
    config,
    cwd: process.cwd(),
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    async withServices(fn) {
      services ??= await startServices(config, createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel), { workers: false }).catch((error: unknown) => {
        if (error instanceof DataDirLockedError) {
          throw new ConfigError(`${error.message}, but no server answers on its admin socket; stop that process or wait for it to start`);
        }
        throw error;
      });
      return fn(services);
    },
  };

  try {
    return await runCli(argv, runtime, isServe ? () => serve(config) : undefined);
  } catch (error) {
    // An unreachable database or a failed migration: one line, not a stack trace (kept for LOG_LEVEL=debug).
    const detail = config.logLevel === 'debug' || config.logLevel === 'trace' ? (error as Error).stack : (error as Error).message;
    process.stderr.write(`countersign: ${detail ?? String(error)}\n`);
    return 1;
  } finally {
    await services?.stop().catch(() => undefined);
  }
}

async function serve(config: Config): Promise<void> {
  const logger = createLogger(config.logLevel);
  const services = await startServices(config, logger, { workers: true });
  const server = await runServer(services, { runCommand: (request) => runInServer(request, services) });
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      logger.info({ signal }, 'signal received');
      void server.close().then(resolve);
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
}

/** Runs a forwarded command line against the server's own services, capturing its output. */
export async function runInServer(request: CommandRequest, services: Services): Promise<CommandResult> {
  let stdout = '';
  let stderr = '';
  const runtime: CliRuntime = {
    config: services.config,
    cwd: request.cwd,
    out: (text) => (stdout += text),
    err: (text) => (stderr += text),
    withServices: (fn) => fn(services),
  };
  const exitCode = await runCli(request.argv, runtime);
  return { exitCode, stdout, stderr };
}

function printResult(result: CommandResult): number {
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  return result.exitCode;
}
