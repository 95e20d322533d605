import { toApprovalView } from '../approvals/approval-view.ts';
import type { ApprovalRow, BatchRow } from '../db/schema.ts';

/** A batch as the API and the CLI show it, with its items. */
export function toBatchView(batch: BatchRow, items: ApprovalRow[]) {
  return {
    id: batch.id,
    project: batch.project,
    status: batch.status,
    maxItems: batch.max_items,
    closesAt: batch.closes_at.toISOString(),
    ticket: batch.ticket,
    items: items.map(toApprovalView),
  };
}
