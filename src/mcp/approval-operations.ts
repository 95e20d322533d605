import type { ApprovalView } from '../contract/approval-schema.ts';

/**
 * What the MCP tools need of Countersign, whichever side of the HTTP API they run on: the
 * stdio server (`countersign mcp`) asks it over HTTP with the agent's key
 * (`http-api-operations.ts`), `POST /mcp` calls the same intake, read and cancel functions as
 * the HTTP routes with the caller's key (`in-process-operations.ts`). Both fail with a
 * CountersignError carrying the API's status, code and message.
 */
export interface ApprovalOperations {
  /** `POST /v1/approvals`: `body` is the intake body, validated by the API itself. */
  request(body: Record<string, unknown>, idempotencyKey?: string): Promise<ApprovalView>;
  /** `GET /v1/approvals/{id}?wait=…`: at most one long poll of `waitSeconds` (0: answer now). */
  get(id: string, waitSeconds: number, signal?: AbortSignal): Promise<ApprovalView>;
  /** `POST /v1/approvals/{id}/cancel`. */
  cancel(id: string): Promise<ApprovalView>;
}
