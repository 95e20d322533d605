import type { Services } from '../services.ts';

/** Where a command writes, and how it reaches the database: its own, or the running server's. */
export interface CliRuntime {
  /** The directory relative file arguments are resolved against (the caller's, also when forwarded). */
  readonly cwd: string;
  out(text: string): void;
  err(text: string): void;
  /**
   * Runs `fn` with the database's services. In the CLI's own process on the embedded
   * database, this is where the command line goes to a running server instead (and
   * CommandForwarded is thrown once its output is printed); `fn` runs only where the
   * services are, so it is also where a command imports its implementation.
   */
  withServices<T>(fn: (services: Services) => Promise<T>): Promise<T>;
}

/** The running server ran this command line and its output has been printed; ends the local run with its exit code. */
export class CommandForwarded extends Error {
  readonly exitCode: number;

  constructor(exitCode: number) {
    super(`the running server ran the command (exit ${exitCode})`);
    this.name = 'CommandForwarded';
    this.exitCode = exitCode;
  }
}

/** Prints `value` as JSON with `--json`, otherwise the human text. */
export function print(runtime: CliRuntime, json: boolean | undefined, value: unknown, human: string): void {
  runtime.out(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}
