import type { Kysely, Transaction } from 'kysely';
import { findReviewer } from '../approvals/decide-approval.ts';
import { queueTicketUpdate } from '../approvals/queue-ticket-update.ts';
import { executorFor } from '../db/open-database.ts';
import type { ApprovalRow, Database } from '../db/schema.ts';
import { readTypedPayload } from '../approvals/payload-edit.ts';
import type { ProjectMapping, ProviderName } from '../projects/mapping-schema.ts';
import type { TicketActivity } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';
import type { ActivityResult } from './activity-result.ts';
import { refuseOnTicket } from './refuse-on-ticket.ts';
import { claimAndApply } from './ticket-activity-claims.ts';

/** Queues, in the caller's transaction, putting the ticket's payload back as the approval now has it (the canonical form). */
export async function restoreTicket(services: Pick<Services, 'jobs' | 'providers'>, trx: Transaction<Database>, provider: ProviderName, approvalId: string): Promise<void> {
  await queueTicketUpdate(services, executorFor(trx), provider, { approvalId, update: 'edited' });
}

/**
 * Someone changed the ticket's body (GitHub's `issues.edited`, a Jira description edit). Recorded, so that the approval
 * that follows is read as that person's edit; an edit of the payload by anyone who may not make
 * it (not a reviewer now, or a project without `allowEdits`) is put back at once, with a comment.
 */
export async function applyTicketEdit(services: Services, provider: ProviderName, approval: ApprovalRow, project: ProjectMapping, activity: TicketActivity): Promise<ActivityResult> {
  // The edit's record and, for an edit nobody may make, the ticket put back commit with the claim.
  const applied = await claimAndApply(services.db, provider, activity.id, approval.id, async (trx): Promise<ActivityResult> => {
    const block = activity.ticketPayload;
    if (!block) return { result: 'ignored', reason: 'the edit left no payload block to read' };
    await trx
      .insertInto('ticket_edits')
      .values({ approval_id: approval.id, editor: activity.actor, body_hash: block.bodyHash })
      .onConflict((oc) => oc.column('approval_id').doUpdateSet({ editor: activity.actor, body_hash: block.bodyHash, edited_at: new Date() }))
      .execute();
    if (readTypedPayload(block.text, approval.payload_hash).kind === 'unchanged') return { result: 'ignored', reason: 'the payload block is unchanged' };
    const reviewer = findReviewer(await services.people.load(trx), project, approval, { namespace: provider, id: activity.actor });
    if (project.allowEdits === true && reviewer !== undefined) return { result: 'edit-recorded' };
    const reason = project.allowEdits === true ? 'only reviewers of the project may change the payload' : `project ${project.key} does not allow approving with changes`;
    await restoreTicket(services, trx, provider, approval.id);
    await refuseOnTicket({ db: trx, jobs: services.jobs }, approval.id, activity.actor, `${reason}; the payload has been put back as the agent sent it`);
    return { result: 'edit-refused', reason };
  });
  return applied.claimed ? applied.result : { result: 'duplicate' };
}

/**
 * The edit an approval on the ticket carries, read from the body it arrived with: none when the
 * block is the approval's payload. Taken as an edit only when the project allows edits, the
 * block is valid JSON, and the approver is the person who last changed the body to exactly
 * this (so nobody else's edit, made while they were reading, is approved in their name).
 */
export async function ticketEditOf(
  services: Pick<Services, 'db' | 'people'>,
  provider: ProviderName,
  approval: ApprovalRow,
  project: ProjectMapping,
  activity: TicketActivity,
): Promise<{ edit?: { payload: unknown } } | { refused: string; restore: boolean }> {
  if (activity.kind !== 'approve') return {};
  // Where edits are not allowed the approval approves the stored payload whatever the ticket showed.
  if (activity.unseenPayload && project.allowEdits === true) return { refused: activity.unseenPayload, restore: false };
  const block = activity.ticketPayload;
  if (!block) return {};
  const reading = readTypedPayload(block.text, approval.payload_hash);
  if (reading.kind === 'unchanged') return {};
  if (project.allowEdits !== true) return { refused: `the payload in the ticket is not the one requested, and project ${project.key} does not allow approving with changes; it has been put back: check it and approve again`, restore: true };
  if (reading.kind === 'invalid') return { refused: `the payload block is not valid JSON (${reading.reason}); fix it and approve again`, restore: false };
  const last = await lastEdit(services.db, approval.id);
  if (!last || last.body_hash !== block.bodyHash) return { refused: 'Countersign has not yet seen who changed the payload block; approve again in a moment', restore: false };
  const people = await services.people.load(services.db);
  if (!people.samePerson(provider, last.editor, activity.actor)) return { refused: `the payload block was last changed by ${last.editor}; check it, make the change yourself, and approve again`, restore: false };
  return { edit: { payload: reading.payload } };
}

const lastEdit = (db: Kysely<Database>, approvalId: string) => db.selectFrom('ticket_edits').select(['editor', 'body_hash']).where('approval_id', '=', approvalId).executeTakeFirst();
