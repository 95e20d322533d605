import type { Config } from '../config.ts';
import type { CommandRequest, CommandResult } from '../server/admin-socket.ts';
import type { Services } from '../services.ts';
import type { RunningServices } from '../start-services.ts';
import { CommandForwarded, type CliRuntime } from './cli-runtime.ts';
import { runCli } from './run-cli.ts';

/**
 * The `countersign` executable. Everything past the command tree is imported when a command
 * needs it (config and zod, the admin socket, the database, the server), so `--help` and a
 * command handed to a running server start in little more than Node's own start-up.
 */
export async function main(argv: string[]): Promise<number> {
  let config: Config | undefined;
  const loadConfig = async () => (config ??= (await import('../config.ts')).resolveConfig(process.env));

  let services: RunningServices | undefined;
  const runtime: CliRuntime = {
    cwd: process.cwd(),
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    async withServices(fn) {
      const resolved = await loadConfig();
      if (!services && !resolved.databaseUrl) {
        // The embedded database belongs to the running server: hand it the command line.
        const { forwardToServer } = await import('../server/admin-socket.ts');
        // Only "no server here" falls back to opening the directory: after a broken exchange the
        // command may already have run in the server, and running it again could do it twice.
        const forwarded = await forwardToServer(resolved.dataDir, { argv, cwd: process.cwd() }).catch((error: Error) => error);
        if (forwarded instanceof Error) {
          throw new Error(`lost the connection to the running server (${forwarded.message}); check whether the command took effect before retrying`);
        }
        if (forwarded) {
          process.stdout.write(forwarded.stdout);
          process.stderr.write(forwarded.stderr);
          throw new CommandForwarded(forwarded.exitCode);
        }
        // Say which directory: a CLI started in another folder than the server finds none there.
        process.stderr.write(`countersign: no server is running on ${resolved.dataDir}; using its embedded database directly\n`);
      }
      services ??= await openServices(resolved);
      return fn(services);
    },
  };

  try {
    return await runCli(argv, runtime, async () => serve(await loadConfig()));
  } catch (error) {
    // An unreachable database or a failed migration: one line, not a stack trace (kept for LOG_LEVEL=debug).
    const detail = config?.logLevel === 'debug' || config?.logLevel === 'trace' ? (error as Error).stack : (error as Error).message;
    process.stderr.write(`countersign: ${detail ?? String(error)}\n`);
    return 1;
  } finally {
    await services?.stop().catch(() => undefined);
  }
}

/** The CLI's own services on the database (no job workers): on PostgreSQL always, on the embedded one when no server runs. */
async function openServices(config: Config): Promise<RunningServices> {
  const [{ startServices, DataDirLockedError }, { createLogger }, { CountersignError }] = await Promise.all([import('../start-services.ts'), import('../logger.ts'), import('../errors.ts')]);
  return startServices(config, createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel), { workers: false }).catch((error: unknown) => {
    if (error instanceof DataDirLockedError) {
      throw new CountersignError(409, 'data_dir_in_use', `${error.message}, but no server answers on its admin socket; stop that process or wait for it to start`);
    }
    throw error;
  });
}

async function serve(config: Config): Promise<void> {
  const [{ startServices }, { createLogger }, { runServer }] = await Promise.all([import('../start-services.ts'), import('../logger.ts'), import('../server/run-server.ts')]);
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
    cwd: request.cwd,
    out: (text) => (stdout += text),
    err: (text) => (stderr += text),
    withServices: (fn) => fn(services),
  };
  const exitCode = await runCli(request.argv, runtime);
  return { exitCode, stdout, stderr };
}
