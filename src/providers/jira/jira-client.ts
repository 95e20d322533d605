import { setTimeout as sleep } from 'node:timers/promises';
import type { AxiosError, AxiosResponse } from 'axios';
import { Version3Client } from 'jira.js';
import type { Logger } from 'pino';
import type { Config } from '../../config/config.ts';
import { PROVIDER_REQUEST_TIMEOUT_MS } from '../provider-failure.ts';

export interface JiraClientOptions {
  logger: Logger;
  /** How often one request is retried on 429 / 5xx before it fails (and its job is retried later by pg-boss). */
  retries?: number;
  /** Milliseconds per second of `Retry-After` (and of the fallback backoff); tests shrink it. */
  retryAfterUnitMs?: number;
  /** A `Retry-After` longer than this is not waited out in-process: the call fails and the job's own retry takes over. */
  maxWaitMs?: number;
  /** Deadline of one HTTP request; tests shorten it. */
  requestTimeoutMs?: number;
}

type RequestConfig = Parameters<Version3Client['sendRequestFullResponse']>[0];

/** `Retry-After` is seconds or an HTTP date (RFC 9110 §10.2.3). */
export function retryAfterSeconds(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, (date - now) / 1000);
}

/**
 * Whether a failed call may be sent again. 429 always: Jira rate-limits before doing anything. A
 * 5xx too, except on creating an issue: the issue may exist already, and the create job's own
 * retry finds it by its approval label instead of opening a second one.
 */
function retryable(status: number | undefined, request: RequestConfig): boolean {
  if (status === 429) return true;
  if (status === undefined || status < 500) return false;
  return !((request.method ?? 'GET').toUpperCase() === 'POST' && /\/rest\/api\/[23]\/issue\/?$/.test(request.url ?? ''));
}

/** jira.js's Version3Client whose every request waits out 429 and 5xx answers, honouring `Retry-After`. */
export class JiraClient extends Version3Client {
  readonly #options: Required<Omit<JiraClientOptions, 'logger'>> & { logger: Logger };

  constructor(jira: NonNullable<Config['jira']>, options: JiraClientOptions) {
    // axios has no deadline by default; a request cut off fails without a response, so it is not
    // retried here: the job's retry takes over.
    super({ host: jira.host, authentication: { basic: { email: jira.email, apiToken: jira.apiToken } }, baseRequestConfig: { timeout: options.requestTimeoutMs ?? PROVIDER_REQUEST_TIMEOUT_MS } });
    this.#options = { retries: 4, retryAfterUnitMs: 1000, maxWaitMs: 60_000, requestTimeoutMs: PROVIDER_REQUEST_TIMEOUT_MS, ...options };
  }

  override async sendRequestFullResponse<T>(request: RequestConfig): Promise<AxiosResponse<T>> {
    const { retries, retryAfterUnitMs, maxWaitMs, logger } = this.#options;
    for (let attempt = 0; ; attempt++) {
      try {
        return await super.sendRequestFullResponse<T>(request);
      } catch (error) {
        const response = (error as AxiosError).response;
        if (attempt >= retries || !retryable(response?.status, request)) throw error;
        const header = retryAfterSeconds(response?.headers?.['retry-after']);
        // Without Retry-After: 1, 2, 4, 8 s, with jitter so instances do not retry in step.
        const waitMs = (header ?? 2 ** attempt * (0.75 + Math.random() / 2)) * retryAfterUnitMs;
        if (waitMs > maxWaitMs) throw error;
        logger.warn({ jira: true, status: response?.status, method: request.method, url: request.url, waitMs: Math.round(waitMs), attempt: attempt + 1 }, 'Jira asked to retry later; waiting');
        await sleep(waitMs);
      }
    }
  }
}

/**
 * The Jira Cloud REST v3 client for `JIRA_HOST` with basic auth (`JIRA_EMAIL` + `JIRA_API_TOKEN`).
 * A call answered 429 or 5xx is retried in-process honouring `Retry-After`; what still fails
 * makes its job fail, and pg-boss retries the job with backoff, so nothing is dropped.
 *
 * @example
 * const client = createJiraClient(config.jira, { logger });
 * const adapter = createJiraAdapter(client, { webhookSecret: config.jira.webhookSecret, logger });
 */
export function createJiraClient(jira: NonNullable<Config['jira']>, options: JiraClientOptions): JiraClient {
  return new JiraClient(jira, options);
}
