import type { ApprovalRow } from '../db/schema.ts';
import type { ApprovalView } from '../contract/approval-schema.ts';

export type { ApprovalView };

/** An approval as the HTTP API and the CLI show it; typed by the schema the OpenAPI document is generated from. */
export function toApprovalView(row: ApprovalRow): ApprovalView {
  return {
    id: row.id,
    status: row.status,
    project: row.project,
    action: row.action,
    summary: row.summary,
    risk: row.risk,
    labels: row.labels,
    requestedBy: row.requested_by,
    payloadHash: row.payload_hash,
    ...(row.original_payload_hash !== null ? { originalPayloadHash: row.original_payload_hash } : {}),
    requiredApprovals: row.required_approvals,
    createdAt: row.created_at.toISOString(),
    ticket: row.ticket,
    // Only while there is no ticket: why the last attempt to open it failed, and when it is retried.
    ...(row.ticket === null && row.ticket_error ? { ticketError: { message: row.ticket_error.message, reason: row.ticket_error.reason, at: row.ticket_error.at, retryAt: row.ticket_error.retryAt } } : {}),
    decision: row.decision,
    escalationTier: row.escalation_tier,
    batchId: row.batch_id,
  };
}

/** One approval as its own GET answers it: with the payload to act on (the reviewer's edit, if any). */
export function toApprovalDetailView(row: ApprovalRow): ApprovalView {
  return { ...toApprovalView(row), payload: row.payload };
}
