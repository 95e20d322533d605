import type { DecisionRecord, Risk, TicketRef } from '../db/schema.ts';
import type { ProjectMapping, ProviderName } from '../projects/mapping-schema.ts';

/** What a provider needs to open a ticket for one approval. */
export interface TicketRequest {
  approvalId: string;
  project: ProjectMapping;
  action: string;
  summary: string;
  details: string | null;
  payload: unknown;
  payloadHash: string;
  risk: Risk;
  labels: string[];
  requestedBy: string | null;
  /** Reviewers to assign: the current tier's. */
  reviewers: string[];
  /** Where a person can read the approval in Countersign. */
  approvalUrl: string;
}

/** What happened that the ticket should now show. */
export type TicketUpdate =
  | { kind: 'decided'; decision: DecisionRecord; approvals: number; required: number }
  | { kind: 'cancelled' }
  | { kind: 'refused'; actor: string; reason: string };

/**
 * One ticket system. Every provider (local, GitHub, Jira) implements this; the decision
 * engine, the jobs and the routes see only this interface.
 */
export interface ProviderAdapter {
  readonly name: ProviderName;
  /** Opens the ticket, or finds the one an earlier, interrupted attempt opened. Must be idempotent. */
  createTicket(request: TicketRequest): Promise<TicketRef>;
  /** Writes an outcome onto the ticket (comment, labels, close); called from a retried job. */
  updateTicket(ticket: TicketRef, project: ProjectMapping, update: TicketUpdate): Promise<void>;
}
