import { sql } from 'kysely';
import type { AppDatabase } from '../../src/db/open-database.ts';
import type { ReceivedCallback } from '../../test/helpers/callback-receiver.ts';
import type { FakeGitHub } from '../../test/helpers/fake-github.ts';
import type { FakeJira } from '../../test/helpers/fake-jira.ts';
import type { BatchLabel, Tracked } from './soak-traffic.ts';

export interface CallbackIndex {
  /** approval id → the `webhook-id`s it was delivered under, and when the first arrived. */
  byApproval: Map<string, { ids: Set<string>; firstAt: number }>;
  /** Deliveries of an id after its first (at-least-once: allowed, counted). */
  duplicateDeliveries: number;
}

export function indexCallbacks(received: ReceivedCallback[]): CallbackIndex {
  const byApproval = new Map<string, { ids: Set<string>; firstAt: number }>();
  const seen = new Set<string>();
  let duplicateDeliveries = 0;
  for (const callback of received) {
    const webhookId = callback.headers['webhook-id'] ?? '';
    if (seen.has(webhookId)) duplicateDeliveries += 1;
    seen.add(webhookId);
    let id: string | undefined;
    try {
      id = (JSON.parse(callback.body) as { data?: { id?: string } }).data?.id;
    } catch {
      id = undefined;
    }
    if (!id) continue;
    const entry = byApproval.get(id) ?? { ids: new Set<string>(), firstAt: callback.at };
    entry.ids.add(webhookId);
    byApproval.set(id, entry);
  }
  return { byApproval, duplicateDeliveries };
}

/** Approval ids each provider issue names: more than one issue naming an approval is a duplicate ticket. */
function issuesPerApproval(github: FakeGitHub, jira: FakeJira): Map<string, number> {
  const counts = new Map<string, number>();
  const texts = [...[...github.issues.values()].map((i) => `${i.title}\n${i.body}`), ...[...jira.issues.values()].map((i) => JSON.stringify(i))];
  for (const text of texts) {
    for (const id of new Set(text.match(/apr_[0-9A-Za-z]+/g) ?? [])) counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

// An audit record is about an approval, or (a batch's ticket) about a batch.
const SUBJECT = sql`coalesce(approval_id, data::jsonb ->> 'batchId')`;

const DECIDED = new Set(['approved', 'rejected', 'expired']);

/** Reads the stopped system's database and the fakes' and receiver's records; each count that must be 0 is named in `failures`. */
export async function checkOutcome(database: AppDatabase, tracked: Map<string, Tracked>, callbacks: CallbackIndex, github: FakeGitHub, jira: FakeJira, batchLabels: ReadonlyMap<string, BatchLabel> = new Map()) {
  const db = database.db;
  const acknowledged = [...tracked.keys()];
  const rows = acknowledged.length === 0 ? [] : await db.selectFrom('approvals').select(['id', 'status', 'callback_url', 'ticket', 'batch_id']).where('id', 'in', acknowledged).execute();
  const byId = new Map(rows.map((r) => [r.id, r]));
  const multiple = async (event: string, by: ReturnType<typeof sql>) =>
    Number(
      ((await sql<{ n: string | number }>`SELECT count(*) AS n FROM (SELECT 1 FROM audit_records WHERE event = ${event} GROUP BY ${SUBJECT}, ${by} HAVING count(*) > 1) twice`.execute(db)).rows[0]?.n) ?? 0,
    );
  const decisionsAppliedTwice = await multiple('approval.decided', sql`1`);
  const escalationsFiredTwice = await multiple('approval.escalated', sql`data::jsonb ->> 'tier'`);
  const ticketsCreatedTwice = await multiple('ticket.created', sql`1`);
  const providerIssues = issuesPerApproval(github, jira);
  const duplicateProviderTickets = acknowledged.filter((id) => (providerIssues.get(id) ?? 0) > 1).length;
  const decided = rows.filter((r) => DECIDED.has(r.status) && r.callback_url);
  const callbacksMissing = decided.filter((r) => !callbacks.byApproval.has(r.id)).map((r) => r.id);
  const callbackIdsPerDecision = [...callbacks.byApproval.values()].filter((e) => e.ids.size > 1).length;
  // Decided by a reviewer (the step was accepted) and still pending: a lost decision.
  const decisionsLost = [...tracked.values()].filter((t) => t.decidedAt !== undefined && byId.get(t.id)?.status === 'pending').map((t) => t.id);
  const undecidedBatchItems = [...tracked.values()].filter((t) => t.kind === 'batch' && byId.get(t.id)?.status === 'pending').map((t) => t.id);
  // Each batch with an item still pending: whether the deciders labeled it, and every answer its label delivery got.
  const pendingPerBatch = new Map<string, number>();
  for (const id of undecidedBatchItems) {
    const batchId = byId.get(id)?.batch_id ?? '(no batch)';
    pendingPerBatch.set(batchId, (pendingPerBatch.get(batchId) ?? 0) + 1);
  }
  const batchRows = pendingPerBatch.size === 0 ? [] : await db.selectFrom('batches').select(['id', 'status', 'ticket', 'created_at', 'closed_at']).where('id', 'in', [...pendingPerBatch.keys()]).execute();
  const undecidedBatches = batchRows.map((row) => ({
    batchId: row.id,
    status: row.status,
    ticket: (row.ticket as { key?: string } | null)?.key ?? null,
    createdAt: new Date(row.created_at).toISOString(),
    pendingItems: pendingPerBatch.get(row.id) ?? 0,
    label: batchLabels.get(row.id) ?? null,
  }));
  const unexpiredEscalations = [...tracked.values()].filter((t) => t.kind === 'escalate' && byId.get(t.id)?.status === 'pending').map((t) => t.id);
  const withoutTicket = rows.filter((r) => r.ticket === null && r.batch_id === null && !DECIDED.has(r.status)).map((r) => r.id);
  const auditPending = Number((await sql<{ n: string | number }>`SELECT count(*) AS n FROM audit_pending`.execute(db)).rows[0]?.n ?? 0);
  const jobs = (await sql<{ name: string; state: string; runnable: boolean; n: string | number }>`
    SELECT name, state, start_after <= now() AS runnable, count(*) AS n FROM pgboss.job
    WHERE state IN ('created', 'retry', 'active') GROUP BY name, state, start_after <= now() ORDER BY name`.execute(db)).rows.map((r) => ({ ...r, n: Number(r.n) }));
  // The audit trail of a few failing approvals: what the system recorded says where it stopped.
  const trailOf = async (ids: string[]) =>
    Object.fromEntries(
      await Promise.all(
        ids.slice(0, 3).map(async (id) => [id, (await db.selectFrom('audit_records').select(['event', 'actor', 'data']).where('approval_id', '=', id).orderBy('seq').execute()).map((r) => `${r.event} ${r.actor.id}/${r.actor.via} ${JSON.stringify(r.data).slice(0, 160)}`)] as const),
      ),
    );
  const ticketTwice = (await sql<{ approval_id: string }>`SELECT ${SUBJECT} AS approval_id FROM audit_records WHERE event = 'ticket.created' GROUP BY ${SUBJECT} HAVING count(*) > 1`.execute(db)).rows.map((r) => r.approval_id);
  const duplicateIds = [...new Set([...acknowledged.filter((id) => (providerIssues.get(id) ?? 0) > 1), ...ticketTwice])];
  const result = {
    acknowledged: acknowledged.length,
    found: rows.length,
    duplicateTickets: Math.max(ticketsCreatedTwice, duplicateProviderTickets),
    decisionsAppliedTwice,
    decisionsLost: decisionsLost.length,
    callbacksMissing: callbacksMissing.length,
    duplicateWebhookIdDeliveries: callbacks.duplicateDeliveries,
    decisionsCalledBackUnderSeveralIds: callbackIdsPerDecision,
    escalationsFiredTwice,
    undecidedBatchItems: undecidedBatchItems.length,
    undecidedBatches,
    unexpiredEscalations: unexpiredEscalations.length,
    approvalsWithoutTicket: withoutTicket.length,
    auditPending,
    jobsPendingAtEnd: jobs,
    trails: await trailOf([...decisionsLost, ...callbacksMissing, ...undecidedBatchItems, ...duplicateIds]),
    examples: { duplicateTickets: duplicateIds.slice(0, 5), callbacksMissing: callbacksMissing.slice(0, 5), decisionsLost: decisionsLost.slice(0, 5), undecidedBatchItems: undecidedBatchItems.slice(0, 5), withoutTicket: withoutTicket.slice(0, 5) },
  };
  const failures = Object.entries({
    lost: result.acknowledged - result.found,
    duplicateTickets: result.duplicateTickets,
    decisionsAppliedTwice,
    decisionsLost: result.decisionsLost,
    callbacksMissing: result.callbacksMissing,
    decisionsCalledBackUnderSeveralIds: callbackIdsPerDecision,
    escalationsFiredTwice,
    undecidedBatchItems: result.undecidedBatchItems,
    unexpiredEscalations: result.unexpiredEscalations,
    approvalsWithoutTicket: result.approvalsWithoutTicket,
  })
    .filter(([, n]) => n !== 0)
    .map(([name, n]) => `${name}: ${n}`);
  return { ...result, failures };
}
