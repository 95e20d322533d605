import { ConfigError } from '../config/config-error.ts';
import type { Config } from '../config/config.ts';
import type { CommandRequest, CommandResult } from '../server/admin-socket.ts';
import type { Services } from '../services.ts';
import type { HttpListener, RunningServer } from '../server/run-server.ts';
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
  const loadConfig = async () => (config ??= (await import('../config/config.ts')).resolveConfig(process.env));

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

  let serveExit: number | undefined;
  try {
    const code = await runCli(argv, runtime, async () => void (serveExit = await serve(await loadConfig())));
    return serveExit ?? code;
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
  const [{ startServices, DataDirLockedError }, { createLogger }, { CountersignError }] = await Promise.all([import('../start-services.ts'), import('../config/logger.ts'), import('../primitives/errors.ts')]);
  return startServices(config, createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel), { workers: false }).catch((error: unknown) => {
    if (error instanceof DataDirLockedError) {
      throw new CountersignError(409, 'data_dir_in_use', `${error.message}, but no server answers on its admin socket; stop that process or wait for it to start`);
    }
    throw error;
  });
}

/**
 * Runs the server until SIGTERM or SIGINT; returns the exit code. Binds HOST:PORT first, so a
 * taken port or a bad HOST fails before the database is touched. A start that fails prints one
 * line naming the cause (no stack trace, no password) and lets go of everything it took, the
 * data directory's lock first among them: exit 2 when a setting is wrong (fix the
 * configuration), 1 when something around it is not ready (a port in use, a database down,
 * the data directory held by a live process).
 */
async function serve(config: Config): Promise<number> {
  const [{ startServices }, { createLogger }, { listenHttp, runServer }] = await Promise.all([import('../start-services.ts'), import('../config/logger.ts'), import('../server/run-server.ts')]);
  const logger = createLogger(config.logLevel);
  for (const warning of config.warnings) logger.warn(warning);
  // Listened for from the first moment: a SIGTERM while starting stops cleanly once started,
  // instead of killing the process with the data directory half set up.
  const stopSignal = new Promise<string>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  let listener: HttpListener | undefined;
  let services: RunningServices | undefined;
  let server: RunningServer;
  try {
    listener = await listenHttp(config);
    services = await startServices(config, logger, { workers: true });
    const started = services;
    server = await runServer(started, { listener, runCommand: (request) => runInServer(request, started) });
  } catch (error) {
    listener?.server.close();
    await services?.stop().catch(() => undefined);
    process.stderr.write(`countersign: ${startFailureLine(error, config)}\n`);
    return error instanceof ConfigError ? 2 : 1;
  }
  void reportProviderProblems(services);
  logger.info({ signal: await stopSignal }, 'signal received');
  await server.close();
  return 0;
}

/** One line; the stack only at LOG_LEVEL debug or trace; DATABASE_URL's password never. */
function startFailureLine(error: unknown, config: Config): string {
  const text = (config.logLevel === 'debug' || config.logLevel === 'trace' ? (error as Error).stack : (error as Error).message) ?? String(error);
  let password: string | undefined;
  try {
    password = config.databaseUrl ? decodeURIComponent(new URL(config.databaseUrl).password) : undefined;
  } catch {
    password = undefined;
  }
  const safe = password ? text.split(password).join('***') : text;
  return config.logLevel === 'debug' || config.logLevel === 'trace' ? safe : safe.replace(/\s*\n\s*/g, ' ');
}

/**
 * Asks every mapped project's provider whether its tickets can be opened, and logs one warning
 * per problem. The server keeps running: intake, local projects and decisions on tickets that
 * exist all still work, the ticket jobs retry until the setting is fixed, and a provider that
 * is only briefly down must not stop a restart.
 */
async function reportProviderProblems(services: RunningServices): Promise<void> {
  const [{ checkProjects }, { listProjects }] = await Promise.all([import('../providers/check-projects.ts'), import('../projects/project-store.ts')]);
  try {
    for (const check of await checkProjects(services.providers, await listProjects(services.db), services.slack ? [services.slack.notifier.checkProject] : [])) {
      for (const problem of check.problems) services.logger.warn({ project: check.project, provider: check.provider, reason: problem.reason }, `project ${check.project}: ${problem.message}`);
    }
  } catch (error) {
    services.logger.warn({ err: error }, 'could not check the projects\' providers');
  }
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
