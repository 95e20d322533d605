import { CommanderError } from 'commander';
import { ConfigError } from '../config/config-error.ts';
import { CountersignError } from '../primitives/errors.ts';

/** The CLI's exit codes, the same for every command (CONTRACT.md, "CLI conventions"). */
export const EXIT = {
  ok: 0,
  /** A check failed or was refused: verify found a bad record, a decision was refused, the database is unreachable. */
  failed: 1,
  /** The command line or the configuration is wrong: nothing was tried. */
  usage: 2,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/**
 * The one mapping from an error to an exit code. A 400 is a malformed argument value
 * (`--since`, `--format`, `--older-than`): usage. A file argument that cannot be read or
 * holds the wrong thing (a mapping, a `--trusted-key`) is a failed check (1). A 4xx other than 400 is the service
 * refusing a well-formed request (422 bad mapping, 403 not a reviewer, 409 already decided):
 * a failed check, as over HTTP.
 */
export function exitCodeFor(error: unknown): ExitCode {
  // --help and --version exit 0; an unknown option, a missing argument or no command at all is usage.
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof ConfigError) return EXIT.usage;
  if (error instanceof CountersignError && error.status === 400) return EXIT.usage;
  return EXIT.failed;
}
