import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config.ts';
import { CountersignError } from '../errors.ts';
import type { CliRuntime } from './cli-runtime.ts';
import { registerAuditCommands } from './commands/audit-commands.ts';
import { registerDecideCommand } from './commands/decide-command.ts';
import { registerKeysCommands } from './commands/keys-commands.ts';
import { registerProjectsCommands } from './commands/projects-commands.ts';

export type ServeHandler = () => Promise<void>;

/**
 * Runs one command line against a runtime and returns the exit code: 0 done, 1 refused or
 * failed (the message says why), 2 a usage error. The same function runs in the CLI's own
 * process and, forwarded over the admin socket, inside a running server.
 */
export async function runCli(argv: string[], runtime: CliRuntime, serve?: ServeHandler): Promise<number> {
  const program = new Command('countersign')
    .description('Human sign-off for AI-agent actions, through Jira, GitHub or the built-in local provider')
    .exitOverride()
    .configureOutput({ writeOut: (text) => runtime.out(text), writeErr: (text) => runtime.err(text), outputError: (text, write) => write(text) })
    .showHelpAfterError('(run countersign --help for usage)');

  program
    .command('serve')
    .description('run the server: migrations, job workers, HTTP on PORT')
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
  registerDecideCommand(program, runtime);
  registerAuditCommands(program, runtime);

  for (const command of program.commands) command.exitOverride().configureOutput(program.configureOutput());

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return 0;
      return error.code === 'commander.executeSubCommandAsync' ? 1 : 2;
    }
    if (error instanceof CountersignError || error instanceof ConfigError) {
      runtime.err(`countersign: ${error.message}\n`);
      return 1;
    }
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      runtime.err(`countersign: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  }
}
