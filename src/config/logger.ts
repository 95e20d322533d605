import { pino, type Logger } from 'pino';
import type { Config } from './config.ts';

/** JSON logs on stderr (stdout stays for CLI output); credentials are redacted wherever they appear. */
export function createLogger(level: Config['logLevel'] | 'silent'): Logger {
  return pino(
    {
      level,
      base: { service: 'countersign' },
      redact: {
        // Slack's bot token and signing secret (config.slack) too.
        paths: ['req.headers.authorization', 'headers.authorization', '*.webhookSecret', '*.webhook_secret', '*.key_hash', '*.key', 'key', 'webhookSecret', '*.botToken', '*.signingSecret', 'botToken', 'signingSecret'],
        censor: '[redacted]',
      },
    },
    pino.destination(2),
  );
}
