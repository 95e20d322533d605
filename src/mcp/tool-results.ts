import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { ApprovalView } from '../contract/approval-schema.ts';
import { CountersignError } from '../primitives/errors.ts';

/** An approval as the API answers it: JSON text for the model, the same object as structured content. */
export function approvalResult(approval: ApprovalView, ...notes: string[]): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(approval) }, ...notes.map((text) => ({ type: 'text' as const, text }))],
    structuredContent: approval,
  };
}

/**
 * A refusal as an MCP tool error (`isError: true`, which the model sees, unlike a protocol
 * error), its text the contract's error body plus the HTTP status:
 * `{"error":{"code":"forbidden","message":"…"},"status":403}`. Anything else than a
 * CountersignError is a bug or an outage: reported to `onUnexpected` (the log), never its text to the caller.
 */
export function errorResult(error: unknown, onUnexpected: (error: unknown) => void): CallToolResult {
  let known: CountersignError;
  if (error instanceof CountersignError) known = error;
  else {
    onUnexpected(error);
    known = new CountersignError(500, 'internal', 'internal error; the server log has the details');
  }
  return { isError: true, content: [{ type: 'text', text: JSON.stringify({ error: { code: known.code, message: known.message }, status: known.status }) }] };
}
