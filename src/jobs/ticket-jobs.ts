import { toJson } from '../db/json.ts';
import type { ApprovalRow } from '../db/schema.ts';
import { findProject } from '../projects/project-store.ts';
import type { TicketUpdate } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';
import type { JobData } from './job-queue.ts';

/**
 * Opens the ticket for an approval. Safe to run twice: the adapter finds a ticket an
 * interrupted run opened, and the row is written only while it has no ticket yet.
 */
export async function runCreateTicket(services: Services, { approvalId }: JobData['ticket-create']): Promise<void> {
  const approval = await loadApproval(services, approvalId);
  if (!approval || approval.ticket !== null || approval.status !== 'pending') return;
  const project = await findProject(services.db, approval.project);
  if (!project) throw new Error(`project ${approval.project} of ${approvalId} is not mapped`);

  const ticket = await services.providers.get(approval.provider).createTicket({
    approvalId,
    project,
    action: approval.action,
    summary: approval.summary,
    details: approval.details,
    payload: approval.payload,
    payloadHash: approval.payload_hash,
    risk: approval.risk,
    labels: approval.labels,
    requestedBy: approval.requested_by,
    reviewers: project.reviewers,
    approvalUrl: `${services.config.publicUrl}/v1/approvals/${approvalId}`,
  });
  await services.db.updateTable('approvals').set({ ticket: toJson(ticket) }).where('id', '=', approvalId).where('ticket', 'is', null).execute();
}

/** Writes a decision, a cancellation or a refused attempt onto the ticket. */
export async function runUpdateTicket(services: Services, data: JobData['ticket-update']): Promise<void> {
  const approval = await loadApproval(services, data.approvalId);
  if (!approval) return;
  if (!approval.ticket) {
    // The ticket job has not run yet; retry later rather than lose the update.
    if (approval.provider !== 'local') throw new Error(`approval ${approval.id} has no ticket yet`);
    return;
  }
  const project = await findProject(services.db, approval.project);
  if (!project) return;
  let update: TicketUpdate;
  if (data.update === 'refused') update = { kind: 'refused', actor: data.actor, reason: data.reason };
  else if (data.update === 'cancelled') update = { kind: 'cancelled' };
  else {
    if (!approval.decision) return;
    const approvals = approval.decision.outcome === 'approved' ? approval.decision.by.length : 0;
    update = { kind: 'decided', decision: approval.decision, approvals, required: approval.required_approvals };
  }
  await services.providers.get(approval.provider).updateTicket(approval.ticket, project, update);
}

async function loadApproval(services: Services, approvalId: string): Promise<ApprovalRow | undefined> {
  return services.db.selectFrom('approvals').selectAll().where('id', '=', approvalId).executeTakeFirst();
}
