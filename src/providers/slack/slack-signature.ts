import { createHmac, timingSafeEqual } from 'node:crypto';

/** Slack refuses, and so do we, a request timestamp further than this from now (replays). */
export const MAX_SKEW_SECONDS = 5 * 60;

export type Headers = Readonly<Record<string, string | undefined>>;

/**
 * Checks Slack's request signature: `v0=` + hex HMAC-SHA256 with the signing secret over
 * `v0:{X-Slack-Request-Timestamp}:{raw body}`, compared in constant time, with the timestamp
 * within ±5 minutes of `nowSeconds`. Over the exact raw body, before anything parses it (as
 * Bolt's `verify-request.js`). `secrets`: the signing secret, and any other still accepted.
 *
 * @example verifySlackSignature(rawBody, headers, [config.slack.signingSecret], Date.now() / 1000)
 */
export function verifySlackSignature(rawBody: string, headers: Headers, secrets: readonly string[], nowSeconds: number): boolean {
  const timestamp = headers['x-slack-request-timestamp'];
  const signature = headers['x-slack-signature'];
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > MAX_SKEW_SECONDS) return false;
  const given = /^v0=([0-9a-f]{64})$/.exec(signature)?.[1];
  if (!given) return false;
  const givenBytes = Buffer.from(given, 'hex');
  return secrets.some((secret) => timingSafeEqual(givenBytes, createHmac('sha256', secret).update(`v0:${timestamp}:${rawBody}`).digest()));
}

/** The headers Slack would send for `rawBody` at `timestamp`: for tests, the bench and the fake Slack. */
export function signSlackRequest(rawBody: string, secret: string, timestamp: number): Record<string, string> {
  const ts = String(Math.floor(timestamp));
  return { 'x-slack-request-timestamp': ts, 'x-slack-signature': `v0=${createHmac('sha256', secret).update(`v0:${ts}:${rawBody}`).digest('hex')}` };
}
