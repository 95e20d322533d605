import { LogLevel, WebClient, type Logger as SlackLogger } from '@slack/web-api';
import type { Logger } from 'pino';
import type { Config } from '../../config/config.ts';

/**
 * The slice of `@slack/web-api`'s WebClient Countersign uses (the way kysely types only the part
 * of `pg` it needs): every Slack call in src/ goes through this, so the fake in
 * test/helpers/fake-slack.ts and the type test hold the real client to it.
 */
export type SlackWebLike = {
  chat: Pick<WebClient['chat'], 'postMessage' | 'update' | 'postEphemeral'>;
  views: Pick<WebClient['views'], 'open'>;
  conversations: Pick<WebClient['conversations'], 'info' | 'replies' | 'history'>;
};

/**
 * Retries inside one call: a few, quickly. A job that still fails is retried by pg-boss with
 * backoff for about a day (src/jobs/job-queue.ts), so a long wait belongs there, not in a call
 * a job holds open past its `expireInSeconds`. A 429 waits its `Retry-After` first (the client
 * pauses its queue for it) and counts as one of these retries.
 */
const RETRIES = { retries: 3, factor: 2, minTimeout: 500, maxTimeout: 10_000, randomize: true } as const;

/** The client's own log lines, through the service's logger; its debug lines (request bodies) are dropped. */
function slackLogger(logger: Logger): SlackLogger {
  const log = logger.child({ component: 'slack-web-api' });
  return {
    debug: () => undefined,
    info: (...msg) => log.info(msg.map(String).join(' ')),
    warn: (...msg) => log.warn(msg.map(String).join(' ')),
    error: (...msg) => log.error(msg.map(String).join(' ')),
    setLevel: () => undefined,
    getLevel: () => LogLevel.INFO,
    setName: () => undefined,
  };
}

/** One Web API client for the process: the `provider: slack` adapter, the `notify.slack` channel and `postSlackMessage` share it. */
export function createSlackClient(config: NonNullable<Config['slack']>, options: { logger: Logger; timeoutMs?: number }): WebClient {
  return new WebClient(config.botToken, {
    slackApiUrl: config.apiUrl,
    logger: slackLogger(options.logger),
    retryConfig: RETRIES,
    timeout: options.timeoutMs ?? 15_000,
    // A method name that is an absolute URL must not send the bot token elsewhere.
    allowAbsoluteUrls: false,
  });
}
