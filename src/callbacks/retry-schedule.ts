/**
 * Delays before each retry of a failed callback, in ms: about a day in all (5 s … 8 h),
 * after Standard Webhooks' example schedule, shortened at the start so a receiver that
 * blipped hears back within seconds.
 */
export const DEFAULT_RETRY_SCHEDULE_MS = [5_000, 30_000, 120_000, 600_000, 1_800_000, 3_600_000, 7_200_000, 14_400_000, 28_800_000, 28_800_000];

const MAX_RETRY_AFTER_MS = 6 * 3_600_000;

/**
 * The delay before the next attempt after `failedAttempts` failures, or undefined when the
 * schedule is used up (the delivery is dead). ±20 % jitter spreads retries of many
 * callbacks to one receiver; a `Retry-After` the receiver sent is honoured when longer.
 */
export function nextRetryDelay(failedAttempts: number, schedule: readonly number[], retryAfter: string | null, random: () => number = Math.random): number | undefined {
  const base = schedule[failedAttempts - 1];
  if (base === undefined) return undefined;
  const jittered = Math.round(base * (0.8 + 0.4 * random()));
  const asked = parseRetryAfter(retryAfter);
  return asked === undefined ? jittered : Math.max(jittered, Math.min(asked, MAX_RETRY_AFTER_MS));
}

/** `Retry-After` is either seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
