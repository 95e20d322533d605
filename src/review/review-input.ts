import type { AuditRecord } from '../audit/audit-record.ts';
import type { AuditLogSnapshot } from '../audit/verify-audit-log.ts';
import type { Risk } from '../db/schema.ts';

/** What an approval's request record says, kept for every approval the log holds (a vote may come weeks after its request). */
export interface RequestedApproval {
  project: string;
  risk: Risk;
  time: string;
}

/** The records a review reads: requests of all time, and every record inside the period. */
export interface ReviewInput {
  requested: Map<string, RequestedApproval>;
  records: AuditRecord[];
}

/**
 * Wraps a snapshot so that verifying it also gathers what the review reads: one pass over the
 * log, and the review only ever sees records the verifier has read. Use the input only when
 * the verify report is ok (`countersign audit review` refuses otherwise).
 */
export function gatherWhileVerifying(snapshot: AuditLogSnapshot, period: { since: Date; until: Date }): { snapshot: AuditLogSnapshot; input: ReviewInput } {
  const input: ReviewInput = { requested: new Map(), records: [] };
  const since = period.since.getTime();
  const until = period.until.getTime();
  async function* gather(): AsyncGenerator<AuditRecord[]> {
    for await (const batch of snapshot.records) {
      for (const record of batch) {
        if (record.event === 'approval.requested' && record.approvalId) {
          const data = record.data as { project?: unknown; risk?: unknown };
          if (typeof data.project === 'string') input.requested.set(record.approvalId, { project: data.project, risk: data.risk === 'low' || data.risk === 'high' ? data.risk : 'medium', time: record.time });
        }
        const at = Date.parse(record.time);
        if (at >= since && at < until) input.records.push(record);
      }
      yield batch;
    }
  }
  return { snapshot: { ...snapshot, records: gather() }, input };
}
