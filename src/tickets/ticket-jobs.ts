import type { Kysely, Transaction } from 'kysely';
import { toJson } from '../db/json.ts';
import { exclusiveRun } from '../db/exclusive-run.ts';
import { idKind } from '../primitives/ids.ts';
import type { ApprovalRow, Database } from '../db/schema.ts';
import { findProject } from '../projects/project-store.ts';
import type { ProviderFailure, TicketRequest, TicketUpdate } from '../providers/provider-adapter.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import { genericFailure } from '../providers/provider-failure.ts';
import { batchOutcome } from '../batching/decide-batch.ts';
import type { Services } from '../services.ts';
import type { JobData } from '../jobs/job-queue.ts';

/**
 * Opens the ticket for an approval. Safe to run twice: the adapter finds a ticket an
 * interrupted run opened, and the row is written only while it has no ticket yet.
 */
export async function runCreateTicket(services: Services, data: JobData['ticket-create'], meta: { attempt?: number } = {}): Promise<void> {
  // A job and its retry (or the job of an instance that stopped answering) may run at once, and
  // two runs racing the adapter's look-for-an-earlier-ticket step opened two issues (the soak):
  // one run at a time per approval in this process, each reading the row again once it holds the
  // turn. Not across instances: a lock held over every provider call would take a pooled
  // connection per ticket, and a provider outage would starve intake of connections.
  await exclusiveRun(services.database, `ticket-create ${data.approvalId}`, (db) => createTicketOnce(services, db, data, meta), { acrossInstances: false });
}

async function createTicketOnce(services: Services, db: Kysely<Database>, { approvalId }: JobData['ticket-create'], meta: { attempt?: number }): Promise<void> {
  const approval = await db.selectFrom('approvals').selectAll().where('id', '=', approvalId).executeTakeFirst();
  if (!approval || approval.ticket !== null || approval.status !== 'pending') return;
  const project = await findProject(db, approval.project);
  if (!project) throw new Error(`project ${approval.project} of ${approvalId} is not mapped`);

  const ticket = await services.providers.get(approval.provider).createTicket({ ...(await ticketRequestFor(services, approval, project, db)), attempt: meta.attempt ?? 1 });
  const store = async (trx: Transaction<Database>) => {
    const written = await trx.updateTable('approvals').set({ ticket: toJson(ticket), ticket_error: null }).where('id', '=', approvalId).where('ticket', 'is', null).executeTakeFirst();
    // Audited only by the run that wrote it: a repeated run finds the ticket already set.
    if (written.numUpdatedRows > 0n) {
      await services.audit.append(trx, { event: 'ticket.created', approvalId, actor: { kind: 'system', id: 'ticket-worker', via: approval.provider }, data: { ...ticket } });
    }
  };
  // On PostgreSQL `db` is the turn's transaction: the ticket commits as the turn ends.
  await (db.isTransaction ? store(db as Transaction<Database>) : db.transaction().execute(store));
}

/** What a provider is told of a single approval to show it on its ticket: when opening it, and after its payload was edited. */
async function ticketRequestFor(services: Services, approval: ApprovalRow, project: ProjectMapping, db: Kysely<Database> = services.db): Promise<TicketRequest> {
  const people = await services.people.load(db);
  return {
    approvalId: approval.id,
    project,
    action: approval.action,
    summary: approval.summary,
    details: approval.details,
    payload: approval.payload,
    payloadHash: approval.payload_hash,
    risk: approval.risk,
    labels: approval.labels,
    requestedBy: approval.requested_by,
    reviewers: people.identitiesIn(project.reviewers, approval.provider),
    approvalUrl: `${services.config.publicUrl}/v1/approvals/${approval.id}`,
    requiredApprovals: approval.required_approvals,
    createdAt: approval.created_at,
  };
}

/**
 * After a failed ticket-create run: keeps on the approval what failed and when it is tried
 * again (shown as `ticketError` while it has no ticket), counts it in the metrics, and logs it
 * with the approval id. The words come from the adapter, so they name the setting to fix and
 * never carry a secret.
 */
export async function recordTicketError(services: Services, { approvalId }: JobData['ticket-create'], failure: { error: unknown; retryAt: Date | null }): Promise<void> {
  const approval = await loadApproval(services, approvalId);
  if (!approval || approval.ticket !== null) return;
  const project = await findProject(services.db, approval.project);
  let described: ProviderFailure;
  try {
    const adapter = services.providers.get(approval.provider);
    described = (project && adapter.describeError?.(failure.error, project)) || genericFailure(failure.error);
  } catch (error) {
    described = genericFailure(error);
  }
  const at = services.now();
  const retry = failure.retryAt ? `; retrying at ${failure.retryAt.toISOString()}` : '; no retries left: fix it, then create the request again';
  await services.db
    .updateTable('approvals')
    .set({ ticket_error: toJson({ message: `${described.message}${retry}`, reason: described.reason, at: at.toISOString(), retryAt: failure.retryAt?.toISOString() ?? null }) })
    .where('id', '=', approvalId)
    .where('ticket', 'is', null)
    .execute();
  services.metrics.observeTicketError(approval.provider, approval.project, described.reason);
  services.logger.warn({ approvalId, project: approval.project, provider: approval.provider, reason: described.reason, retryAt: failure.retryAt }, `ticket not opened: ${described.message}`);
}

/** Writes a decision, a cancellation or a refused attempt onto the ticket. */
export async function runUpdateTicket(services: Services, data: JobData['ticket-update']): Promise<void> {
  if (idKind(data.approvalId) === 'batch') return runUpdateBatchTicket(services, data);
  const approval = await loadApproval(services, data.approvalId);
  // A batched request's ticket is its batch's: the batch reports once for all its items.
  if (!approval || approval.batch_id !== null) return;
  if (!approval.ticket) {
    // A decided approval without a ticket never gets one (the create job opens tickets for
    // pending approvals only: one decided at intake, by a rule or a standing grant, or before
    // its ticket job ran): there is nothing to update. A pending one's ticket is on its way:
    // retry later rather than lose the update.
    if (approval.status === 'pending' && services.providers.capabilities(approval.provider).updatesTickets) throw new Error(`approval ${approval.id} has no ticket yet`);
    return;
  }
  const project = await findProject(services.db, approval.project);
  if (!project) return;
  // The ticket names people as its system knows them (a person id means nothing to GitHub).
  const people = await services.people.load(services.db);
  const known = (entries: readonly string[]) => people.identitiesIn(entries, approval.provider, { keepUnknown: true });
  let update: TicketUpdate;
  // Decided since the refusal was queued: putting the ticket back now would undo the decision's own state; only the comment is left.
  if (data.update === 'refused') update = { kind: 'refused', actor: data.actor, reason: data.reason, ...(data.revert && approval.status === 'pending' ? { revert: data.revert } : {}) };
  else if (data.update === 'cancelled') update = { kind: 'cancelled' };
  else if (data.update === 'edited') update = { kind: 'edited', ticket: await ticketRequestFor(services, approval, project) };
  else if (data.update === 'escalated') update = { kind: 'escalated', tier: data.tier, reviewers: people.identitiesIn(data.reviewers, approval.provider), ...(data.by ? { by: data.by } : {}) };
  else {
    if (!approval.decision) return;
    const approvals = approval.decision.outcome === 'approved' ? approval.decision.by.length : 0;
    update = { kind: 'decided', decision: { ...approval.decision, by: known(approval.decision.by) }, approvals, required: approval.required_approvals };
  }
  // Jobs queued before an upgrade may name a provider that no longer takes updates.
  await services.providers.get(approval.provider).updateTicket?.(approval.ticket, project, { ...update, request: { risk: approval.risk, labels: approval.labels } });
}

/** One comment and one close for a whole batch, however many items it decided. */
async function runUpdateBatchTicket(services: Services, data: JobData['ticket-update']): Promise<void> {
  const batch = await services.db.selectFrom('batches').selectAll().where('id', '=', data.approvalId).executeTakeFirst();
  if (!batch?.ticket) return;
  const project = await findProject(services.db, batch.project);
  if (!project) return;
  let update: TicketUpdate | undefined;
  if (data.update === 'refused') update = { kind: 'refused', actor: data.actor, reason: data.reason, ...(data.revert ? { revert: data.revert } : {}) };
  else if (data.update === 'decided') {
    const outcome = await batchOutcome(services, batch.id);
    // "Approved by @bob, 24 of 25": items approved out of items decided.
    const people = await services.people.load(services.db);
    if (outcome) update = { kind: 'decided', decision: { ...outcome.decision, by: people.identitiesIn(outcome.decision.by, batch.provider, { keepUnknown: true }) }, approvals: outcome.approved, required: outcome.decided };
  }
  if (update) await services.providers.get(batch.provider).updateTicket?.(batch.ticket, project, update);
}

async function loadApproval(services: Services, approvalId: string): Promise<ApprovalRow | undefined> {
  return services.db.selectFrom('approvals').selectAll().where('id', '=', approvalId).executeTakeFirst();
}
