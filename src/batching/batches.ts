import { exclusiveRun } from '../db/exclusive-run.ts';
import { type Kysely, type Transaction } from 'kysely';
import { payloadHash } from '../primitives/canonical-json.ts';
import { executorFor } from '../db/open-database.ts';
import { toJson } from '../db/json.ts';
import type { ApprovalRow, BatchRow, Database } from '../db/schema.ts';
import { parseDuration } from '../primitives/duration.ts';
import { newBatchId } from '../primitives/ids.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import { findProject } from '../projects/project-store.ts';
import type { BatchItem } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';

/**
 * Puts a new approval into its project's open batch, opening one (and its window timer)
 * when there is none. Reaching `maxItems` closes the batch at once. The partial unique
 * index on (project) where open makes concurrent intakes meet in the same batch.
 */
export async function joinBatch(services: Services, trx: Transaction<Database>, approval: ApprovalRow, project: ProjectMapping): Promise<string> {
  const batching = project.batching!;
  let batch = await openBatch(trx, project.key);
  if (!batch) {
    const closesAt = new Date(services.now().getTime() + parseDuration(batching.window)!);
    const inserted = await trx
      .insertInto('batches')
      .values({ id: newBatchId(), project: project.key, provider: project.provider, status: 'open', max_items: batching.maxItems, closes_at: closesAt })
      .onConflict((oc) => oc.column('project').where('status', '=', 'open').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) await services.jobs.send(executorFor(trx), 'batch-close', { batchId: inserted.id }, { startAfter: closesAt });
    batch = inserted ?? (await openBatch(trx, project.key));
    if (!batch) throw new Error(`could not open a batch for project ${project.key}`);
  }
  await trx.updateTable('approvals').set({ batch_id: batch.id }).where('id', '=', approval.id).execute();
  const { count } = await trx
    .selectFrom('approvals')
    .select((eb) => eb.fn.countAll<string | number>().as('count'))
    .where('batch_id', '=', batch.id)
    .where('status', '=', 'pending')
    .executeTakeFirstOrThrow();
  if (Number(count) >= batch.max_items) {
    // Closed here, with the item that filled it: left open until its job ran, the batch took
    // more items than maxItems and each sent one more close job (found by the soak, issue 19).
    const closed = await trx.updateTable('batches').set({ status: 'ticketed', closed_at: services.now() }).where('id', '=', batch.id).where('status', '=', 'open').executeTakeFirst();
    if (closed.numUpdatedRows > 0n) await services.jobs.send(executorFor(trx), 'batch-close', { batchId: batch.id });
  }
  return batch.id;
}

function openBatch(trx: Transaction<Database>, project: string): Promise<BatchRow | undefined> {
  return trx.selectFrom('batches').selectAll().where('project', '=', project).where('status', '=', 'open').forUpdate().executeTakeFirst();
}

export async function batchItems(services: Pick<Services, 'db'>, batchId: string, status?: ApprovalRow['status']): Promise<ApprovalRow[]> {
  let query = services.db.selectFrom('approvals').selectAll().where('batch_id', '=', batchId);
  if (status) query = query.where('status', '=', status);
  return query.orderBy('id').execute();
}

/**
 * The batch's window passed or it is full: close it and open one ticket listing every
 * pending item. Safe to run again after a crash: a closed batch without a ticket retries
 * the (idempotent) ticket creation; a closed batch with one is left alone.
 */
export async function runBatchClose(services: Services, { batchId }: { batchId: string }, meta: { attempt?: number } = {}): Promise<void> {
  const batch = await services.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('batches').selectAll().where('id', '=', batchId).forUpdate().executeTakeFirst();
    if (!row || row.ticket !== null || row.status === 'decided') return undefined;
    if (row.status === 'ticketed') return row;
    return trx.updateTable('batches').set({ status: 'ticketed', closed_at: services.now() }).where('id', '=', batchId).returningAll().executeTakeFirstOrThrow();
  });
  if (!batch) return;
  // One run at a time per batch (a window's job and a retry could each open an issue); each
  // checks again for the ticket once it holds the turn.
  await exclusiveRun(services.database, `batch-close ${batchId}`, (db) => openBatchTicket(services, batch, meta, db));
}

async function openBatchTicket(services: Services, batch: BatchRow, meta: { attempt?: number }, db: Kysely<Database>): Promise<void> {
  const batchId = batch.id;
  const current = await db.selectFrom('batches').select(['ticket', 'status']).where('id', '=', batchId).executeTakeFirst();
  if (!current || current.ticket !== null || current.status === 'decided') return;
  const items = await batchItems(services, batchId, 'pending');
  if (items.length === 0) {
    // Every item was cancelled while the batch was open: nothing to ask anyone.
    await services.db.updateTable('batches').set({ status: 'decided' }).where('id', '=', batchId).execute();
    return;
  }
  const project = await findProject(services.db, batch.project);
  if (!project) throw new Error(`project ${batch.project} of ${batchId} is not mapped`);
  const listed: BatchItem[] = items.map((item) => ({ approvalId: item.id, action: item.action, summary: item.summary, payloadHash: item.payload_hash }));
  const ticket = await services.providers.get(batch.provider).createTicket({
    approvalId: batchId,
    project,
    action: 'batch',
    summary: `${items.length} ${items.length === 1 ? 'request' : 'requests'} for ${project.key} to approve together`,
    details: null,
    payload: listed,
    payloadHash: payloadHash(listed),
    risk: items.some((i) => i.risk === 'high') ? 'high' : items.some((i) => i.risk === 'medium') ? 'medium' : 'low',
    labels: [],
    requestedBy: null,
    reviewers: (await services.people.load(services.db)).identitiesIn(project.reviewers, batch.provider),
    approvalUrl: `${services.config.publicUrl}/v1/batches/${batchId}`,
    requiredApprovals: Math.max(...items.map((i) => i.required_approvals)),
    createdAt: batch.created_at,
    attempt: meta.attempt ?? 1,
    items: listed,
  });
  const store = async (trx: Transaction<Database>) => {
    const stored = await trx.updateTable('batches').set({ ticket: toJson(ticket) }).where('id', '=', batchId).where('ticket', 'is', null).executeTakeFirst();
    await trx.updateTable('approvals').set({ ticket: toJson(ticket) }).where('batch_id', '=', batchId).where('ticket', 'is', null).execute();
    // Audited only by the run that stored it, as for an approval's own ticket.
    if (stored.numUpdatedRows > 0n) {
      await services.audit.append(trx, { event: 'ticket.created', approvalId: null, actor: { kind: 'system', id: 'batching', via: batch.provider }, data: { batchId, ticket, items: listed.map((i) => i.approvalId) } });
    }
  };
  await (db.isTransaction ? store(db as Transaction<Database>) : services.db.transaction().execute(store));
}
