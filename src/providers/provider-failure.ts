import { CountersignError } from '../primitives/errors.ts';
import type { ProviderFailure } from './provider-adapter.ts';

/**
 * One ticket-system request's deadline (GitHub, Jira). Without one, a provider that accepts a
 * request and never answers held the job, and with GitHub's one-at-a-time write queue every later
 * write of the process, for as long as the socket stayed open (the soak's provider-hang, issue 19).
 * A request cut off fails like a network error: the client's own retry, then the job's.
 */
export const PROVIDER_REQUEST_TIMEOUT_MS = 20_000;

/** The HTTP status a provider answered: Octokit's RequestError carries `status`, jira.js's axios error `response.status`. */
export function failureStatus(error: unknown): number | undefined {
  const { status, response } = (error ?? {}) as { status?: unknown; response?: { status?: unknown } };
  if (typeof response?.status === 'number') return response.status;
  return typeof status === 'number' ? status : undefined;
}

/** A network error code (`ECONNREFUSED`, `ENOTFOUND`, …) anywhere in the error's cause chain: the request got no answer. */
export function failureNetworkCode(error: unknown): string | undefined {
  for (let cause = error, depth = 0; cause && depth < 5; depth++) {
    const { code } = cause as { code?: unknown };
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
    cause = (cause as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * A failure no adapter put in words. Our own errors say what is wrong (a project no longer
 * mapped, a provider this server has no credentials for); anything else is named only by its
 * kind, since its message may quote what the provider sent back.
 */
export function genericFailure(error: unknown): ProviderFailure {
  if (error instanceof CountersignError) return { reason: error.status === 503 ? 'unavailable' : 'error', message: error.message };
  const code = failureNetworkCode(error);
  if (code) return { reason: 'unreachable', message: `the provider could not be reached (${code})` };
  const status = failureStatus(error);
  return { reason: 'error', message: `the ticket could not be opened${status ? ` (HTTP ${status})` : ''}; the server log has the details` };
}
