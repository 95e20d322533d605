import { createAppAuth } from '@octokit/auth-app';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import Bottleneck from 'bottleneck';
import type { Logger } from 'pino';
import type { Config } from '../../config/config.ts';
import { PROVIDER_REQUEST_TIMEOUT_MS } from '../provider-failure.ts';

const CountersignOctokit = Octokit.plugin(throttling, retry);
export type GitHubClient = InstanceType<typeof CountersignOctokit>;

export interface GitHubClientOptions {
  logger: Logger;
  /**
   * Octokit paces content-creating requests (1 s between writes, 3 s between ones that notify)
   * as github.com asks, to stay clear of secondary rate limits. Unset: that pacing on github.com,
   * none elsewhere (GitHub Enterprise Server, a stand-in).
   */
  writeIntervalMs?: number;
  /** Multiplies `retry-after` seconds; tests shrink it to keep a rate-limit test fast. */
  retryAfterBaseMs?: number;
  /** How often one request is retried on a rate limit before the job fails and pg-boss retries it later. */
  rateLimitRetries?: number;
  /** Deadline of one HTTP request; tests shorten it. */
  requestTimeoutMs?: number;
}

/** Whether the API is github.com's (its secondary rate limits apply), not a GitHub Enterprise Server's. */
function onGitHubCom(apiUrl: string): boolean {
  return new URL(apiUrl).hostname === 'api.github.com';
}

/** `fetch` with a deadline per request, keeping a signal Octokit passes. */
function fetchWithDeadline(timeoutMs: number): typeof fetch {
  return (input, init) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    return fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline });
  };
}

/**
 * The REST client: a personal access token or a GitHub App installation, `GITHUB_API_URL` as
 * base (GitHub Enterprise Server: `https://HOST/api/v3`). Primary and secondary rate limits are
 * waited out and retried (plugin-throttling), 5xx and network errors retried (plugin-retry);
 * what still fails makes the job fail, and pg-boss retries it with backoff, so nothing is dropped.
 *
 * @example
 * const client = createGitHubClient(config.github, { logger });
 * const adapter = createGitHubAdapter(client, { webhookSecret: config.github.webhookSecret, logger });
 */
export function createGitHubClient(github: NonNullable<Config['github']>, options: GitHubClientOptions): GitHubClient {
  const { logger } = options;
  const retries = options.rateLimitRetries ?? 3;
  // github.com's secondary rate limits are what Octokit's default pacing keeps clear of (one
  // issue or comment per 3 s per process: about 20 a minute). A GitHub Enterprise Server has rate
  // limits off unless its admin turns them on (and then its 403/429 answers are waited out below
  // like github.com's), and a stand-in has none: there, writes go one at a time without a gap.
  const writeIntervalMs = options.writeIntervalMs ?? (onGitHubCom(github.apiUrl) ? undefined : 0);
  const paced = writeIntervalMs !== undefined;
  const group = (minTime: number) => new Bottleneck.Group({ maxConcurrent: 1, minTime });
  const auth = github.token
    ? { auth: github.token }
    : {
        authStrategy: createAppAuth,
        auth: { appId: github.app!.appId, privateKey: github.app!.privateKey, installationId: github.app!.installationId },
      };
  return new CountersignOctokit({
    ...auth,
    baseUrl: github.apiUrl,
    userAgent: 'countersign',
    request: { fetch: fetchWithDeadline(options.requestTimeoutMs ?? PROVIDER_REQUEST_TIMEOUT_MS) },
    log: {
      debug: (message: string) => logger.debug({ github: true }, message),
      info: (message: string) => logger.debug({ github: true }, message),
      warn: (message: string) => logger.warn({ github: true }, message),
      // plugin-request-log's line for a failed call ("GET /user - 401 with id …"): whoever
      // handles the error reports it (the job's warning, a project check's problem), once.
      error: (message: string) => (/^[A-Z]+ \S+ - \d{3} with id /.test(message) ? logger.debug({ github: true }, message) : logger.error({ github: true }, message)),
    },
    throttle: {
      ...(paced ? { write: group(writeIntervalMs), notifications: group(writeIntervalMs) } : {}),
      ...(options.retryAfterBaseMs !== undefined ? { retryAfterBaseValue: options.retryAfterBaseMs } : {}),
      onRateLimit: (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
        logger.warn({ retryAfter, method: request.method, url: request.url, retryCount }, 'GitHub rate limit hit; waiting');
        return retryCount < retries;
      },
      onSecondaryRateLimit: (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
        logger.warn({ retryAfter, method: request.method, url: request.url, retryCount }, 'GitHub secondary rate limit hit; waiting');
        return retryCount < retries;
      },
    },
  });
}
