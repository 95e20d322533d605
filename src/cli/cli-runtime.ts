import type { Config } from '../config.ts';
import type { Services } from '../services.ts';

/** Where a command writes, and how it reaches the database: its own, or the running server's. */
export interface CliRuntime {
  readonly config: Config;
  /** The directory relative file arguments are resolved against (the caller's, also when forwarded). */
  readonly cwd: string;
  out(text: string): void;
  err(text: string): void;
  withServices<T>(fn: (services: Services) => Promise<T>): Promise<T>;
}

/** Prints `value` as JSON with `--json`, otherwise the human text. */
export function print(runtime: CliRuntime, json: boolean | undefined, value: unknown, human: string): void {
  runtime.out(json ? `${JSON.stringify(value, null, 2)}\n` : `${human}\n`);
}
