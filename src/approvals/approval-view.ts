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
    decision: row.decision,
    escalationTier: row.escalation_tier,
    batchId: row.batch_id,
  };
}

export type ApprovalView = ReturnType<typeof toApprovalView>;
