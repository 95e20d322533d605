/**
 * A setting that is missing or malformed; the message is the one line printed at start-up.
 * Kept apart from config.ts (and zod) so the CLI can tell a configuration error from any
 * other without loading the resolver.
 */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
