import type { ApprovalRow } from '../db/schema.ts';
import { parseDuration } from '../primitives/duration.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';

/** When a pending approval next changes by itself: its next escalation tier, or its last tier's reject / expire. */
export interface Deadline {
  kind: 'escalates' | 'rejected' | 'expires';
  at: Date;
}

/** The "SLA left" of the inbox: from the tiers the approval's rules resolved at intake (as the escalation timers use them). */
export function approvalDeadline(approval: Pick<ApprovalRow, 'created_at' | 'escalation_tier' | 'policy'>, project: ProjectMapping | undefined): Deadline | undefined {
  const tiers = approval.policy?.escalation ?? project?.escalation ?? [];
  const next = tiers[approval.escalation_tier];
  if (!next) return undefined;
  const after = parseDuration(next.after);
  if (after === undefined) return undefined;
  const at = new Date(approval.created_at.getTime() + after);
  return { kind: next.outcome === 'reject' ? 'rejected' : next.outcome === 'expire' ? 'expires' : 'escalates', at };
}
