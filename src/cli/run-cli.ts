import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/config-error.ts';
import { CountersignError } from '../primitives/errors.ts';
import { packageVersion } from '../primitives/package-version.ts';
import { CommandForwarded, type CliRuntime } from './cli-runtime.ts';
import { registerApprovalsCommands } from './commands/approvals-commands.ts';
import { registerAuditCommands } from './commands/audit-commands.ts';
import { registerDecideCommand } from './commands/decide-command.ts';
import { registerGrantsCommands } from './commands/grants-commands.ts';
import { registerKeysCommands } from './commands/keys-commands.ts';
import { registerLoginLinkCommand } from './commands/login-link-command.ts';
import { registerMcpCommand } from './commands/mcp-command.ts';
import { registerProjectsCommands } from './commands/projects-commands.ts';
import { registerReportCommands } from './commands/report-commands.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';
import { serveHelp } from './serve-help.ts';

export type ServeHandler = () => Promise<void>;

/**
 * Runs one command line against a runtime and returns the exit code (exit-codes.ts): 0 done,
 * 1 a check failed or was refused (the message says why), 2 a usage or configuration error.
 * The same function runs in the CLI's own process and, forwarded over the admin socket,
 * inside a running server. Only the command tree is built here: each command imports its
 * implementation when it runs, so `--help` loads no database, server or provider code.
 */
export async function runCli(argv: string[], runtime: CliRuntime, serve?: ServeHandler): Promise<number> {
  const program = new Command('countersign')
    .description('Human sign-off for AI-agent actions, through Jira, GitHub or the built-in local provider')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: (text) => runtime.out(text), writeErr: (text) => runtime.err(text), outputError: (text, write) => write(text) })
    .showHelpAfterError('(run countersign --help for usage)')
    .addHelpText('after', '\nExit codes: 0 done, 1 a check failed or was refused, 2 usage or configuration error.\nEvery command takes --json. Secrets may be given as files: NAME_FILE=/path (e.g. GITHUB_TOKEN_FILE).');

  program
    .command('serve')
    .description('run the server: migrations, job workers, HTTP on PORT')
    .option('--json', 'accepted for symmetry: the server logs JSON lines (pino) on stderr anyway')
    .addHelpText('after', serveHelp)
    .action(async () => {
      if (!serve) throw new CountersignError(409, 'already_serving', 'serve cannot run inside a running server');
      await serve();
    });

  program
    .command('migrate')
    .description('apply database migrations and exit')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      // Starting the services migrates our tables and pg-boss's schema.
      await runtime.withServices(async () => undefined);
      runtime.out(opts.json ? '{"migrated":true}\n' : 'Database is up to date.\n');
    });

  registerKeysCommands(program, runtime);
  registerProjectsCommands(program, runtime);
  registerApprovalsCommands(program, runtime);
  registerDecideCommand(program, runtime);
  registerGrantsCommands(program, runtime);
  registerAuditCommands(program, runtime);
  registerLoginLinkCommand(program, runtime);
  registerReportCommands(program, runtime);
  registerMcpCommand(program, runtime);

  const configure = (command: Command) => {
    command.exitOverride().configureOutput(program.configureOutput());
    command.commands.forEach(configure);
  };
  program.commands.forEach(configure);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    // The running server ran the command and its output is printed: its exit code is ours.
    if (error instanceof CommandForwarded) return error.exitCode;
    // commander has printed its own message (or the help, or the version).
    if (error instanceof CommanderError) return exitCodeFor(error);
    if (!(error instanceof Error) || !isKnownFailure(error)) throw error;
    printError(runtime, argv, error);
    return exitCodeFor(error);
  }
}

/** Errors with a message fit to print as is; anything else is a bug or an outage, left to main. */
function isKnownFailure(error: Error): boolean {
  return error instanceof CountersignError || error instanceof ConfigError || (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/** One line; with --json the contract's error body instead, so a script reads failures the way it reads answers. */
function printError(runtime: CliRuntime, argv: string[], error: Error): void {
  if (argv.includes('--json')) {
    const code = error instanceof CountersignError ? error.code : error instanceof ConfigError ? 'invalid_configuration' : 'not_found';
    runtime.err(`${JSON.stringify({ error: { code, message: error.message } })}\n`);
  } else {
    runtime.err(`countersign: ${error.message}\n`);
  }
}
