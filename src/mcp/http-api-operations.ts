import { CountersignApiError, type ApprovalRequest, type CountersignClient } from '../client/countersign-client.ts';
import { CountersignError } from '../primitives/errors.ts';
import type { ApprovalOperations } from './approval-operations.ts';

/**
 * The tools' operations over the HTTP API, through the same `countersign/client` agents use:
 * what `countersign mcp` runs on, a thin client with the agent's own key. A refusal keeps the
 * API's status, code and message; a server that cannot be reached is a 503 `unreachable`.
 */
export function httpApiOperations(client: CountersignClient, baseUrl: string): ApprovalOperations {
  async function call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof CountersignApiError) throw new CountersignError(error.status, error.code, apiMessage(error));
      if ((error as Error).name === 'AbortError') throw error;
      // fetch's own "fetch failed" says nothing; its cause (ECONNREFUSED, ENOTFOUND) does.
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new CountersignError(503, 'unreachable', `could not reach Countersign at ${baseUrl} (${cause?.code ?? cause?.message ?? (error as Error).message}); is the server running and COUNTERSIGN_URL right?`);
    }
  }

  return {
    // The API validates the body: it is the intake body as the tool's caller gave it.
    request: (body, idempotencyKey) => call(() => client.requestApproval(body as ApprovalRequest, idempotencyKey === undefined ? {} : { idempotencyKey })),
    get: (id, waitSeconds, signal) => call(() => client.getApproval(id, { waitSeconds, ...(signal ? { signal } : {}) })),
    cancel: (id) => call(() => client.cancel(id)),
  };
}

/** The API's own message: CountersignApiError's text is `${status} ${code}: ${message}`. */
function apiMessage(error: CountersignApiError): string {
  const prefix = `${error.status} ${error.code}: `;
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
}
