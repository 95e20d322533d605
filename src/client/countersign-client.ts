import type { z } from 'zod';
import type { approvalSchema } from '../contract/approval-schema.ts';
import type { intakeSchema } from '../contract/intake-schema.ts';

export interface CountersignClientOptions {
  /** Where the server listens, e.g. `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** A `csk_…` key with scopes `intake` and `read`. */
  apiKey: string;
  fetch?: typeof fetch;
  /** Pause before retrying a long poll after a network error or a 5xx; doubles up to 30 s. */
  retryDelayMs?: number;
}

/**
 * The intake body, as the server's own validator reads it (`risk` and `labels` have
 * defaults). Derived from the schema the server validates with, like the OpenAPI document.
 */
export type ApprovalRequest = z.input<typeof intakeSchema>;

/** An approval as the API answers it, from the same schema as `GET /openapi.json`'s `Approval`. */
export type Approval = z.output<typeof approvalSchema>;

/** The server answered with the contract's error body. */
export class CountersignApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(`${status} ${code}: ${message}`);
    this.name = 'CountersignApiError';
    this.status = status;
    this.code = code;
  }
}

export class DecisionTimeoutError extends Error {
  readonly approval: Approval;

  constructor(approval: Approval) {
    super(`approval ${approval.id} is still ${approval.status}`);
    this.name = 'DecisionTimeoutError';
    this.approval = approval;
  }
}

export interface CountersignClient {
  /** Files a request; resolves with the pending approval at once (the server never waits on a ticket system). */
  requestApproval(request: ApprovalRequest, options?: { idempotencyKey?: string }): Promise<Approval>;
  /**
   * The approval now; with `waitSeconds` (at most 60) one long poll, answered as soon as it
   * leaves `pending` or when the time is up (still `pending`). Network errors are thrown, not retried.
   */
  getApproval(id: string, options?: { waitSeconds?: number; signal?: AbortSignal }): Promise<Approval>;
  /**
   * Long-polls until the approval leaves `pending`; rides out network errors and server
   * restarts. Throws DecisionTimeoutError after `timeoutMs` (default: wait for ever).
   */
  waitForDecision(id: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<Approval>;
  cancel(id: string): Promise<Approval>;
}

const MAX_WAIT_SECONDS = 60;

export function createCountersignClient(options: CountersignClientOptions): CountersignClient {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const firstRetryDelay = options.retryDelayMs ?? 500;

  async function call(path: string, init: RequestInit = {}): Promise<Approval> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${options.apiKey}`);
    if (init.body !== undefined) headers.set('content-type', 'application/json');
    const response = await doFetch(`${base}${path}`, { ...init, headers });
    const body = (await response.json().catch(() => undefined)) as { error?: { code: string; message: string } } | undefined;
    if (!response.ok) throw new CountersignApiError(response.status, body?.error?.code ?? 'http_error', body?.error?.message ?? response.statusText);
    return body as Approval;
  }

  const sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });

  return {
    requestApproval(request, { idempotencyKey } = {}) {
      return call('/v1/approvals', { method: 'POST', body: JSON.stringify(request), headers: idempotencyKey ? { 'idempotency-key': idempotencyKey } : {} });
    },
    getApproval: (id, { waitSeconds = 0, signal } = {}) => call(`/v1/approvals/${encodeURIComponent(id)}${waitSeconds > 0 ? `?wait=${waitSeconds}` : ''}`, signal ? { signal } : {}),
    cancel: (id) => call(`/v1/approvals/${encodeURIComponent(id)}/cancel`, { method: 'POST' }),
    async waitForDecision(id, { timeoutMs = Number.POSITIVE_INFINITY, signal } = {}) {
      const deadline = Date.now() + timeoutMs;
      let retryDelay = firstRetryDelay;
      let last: Approval | undefined;
      while (!signal?.aborted) {
        const left = deadline - Date.now();
        const wait = Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.floor(left / 1000)));
        try {
          last = await call(`/v1/approvals/${encodeURIComponent(id)}?wait=${wait}`, signal ? { signal } : {});
          retryDelay = firstRetryDelay;
          if (last.status !== 'pending' || Date.now() >= deadline || wait === 0) break;
        } catch (error) {
          // 4xx other than 429 will not get better by retrying: the id or key is wrong.
          if (error instanceof CountersignApiError && error.status < 500 && error.status !== 429) throw error;
          if (signal?.aborted || Date.now() + retryDelay >= deadline) break;
          await sleep(retryDelay, signal);
          retryDelay = Math.min(retryDelay * 2, 30_000);
        }
      }
      if (!last || last.status === 'pending') throw new DecisionTimeoutError(last ?? ({ id, status: 'pending' } as Approval));
      return last;
    },
  };
}
