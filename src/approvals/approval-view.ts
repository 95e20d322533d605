import type { ApprovalRow } from '../db/schema.ts';

/** An approval as the HTTP API and the CLI show it. */
export function toApprovalView(row: ApprovalRow) {
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

export type ApprovalView = ReturnType<typeof toApprovalView>;
