import { sql } from 'kysely';
import { readApprovalDetail } from '../approvals/approval-detail.ts';
import { toAuditRecord } from '../audit/read-audit-snapshot.ts';
import type { StoredPolicy } from '../db/schema.ts';
import { decisionChoices } from '../projects/mapping-schema.ts';
import { listGrants } from '../grants/grant-store.ts';
import { notFound } from '../primitives/errors.ts';
import { isApprovalId, isBatchId } from '../primitives/ids.ts';
import { findProject, listProjects } from '../projects/project-store.ts';
import type { Services } from '../services.ts';
import { approvalDeadline } from './approval-deadline.ts';
import type { InboxPeople } from './inbox-people.ts';
import type { AdminOverview } from './pages/admin-page.ts';
import type { ApprovalPageData } from './pages/approval-page.ts';
import type { InboxItem } from './pages/inbox-page.ts';

/** The inbox shows this many; the rest wait below a note (the oldest are decided by escalation anyway). */
export const INBOX_LIMIT = 200;

/** Everything a person's approval may not be shown for answers the same 404: an unknown id, another project's, one they do not review. */
const hidden = () => notFound('no such approval, or it is not one you review');

/**
 * `GET /inbox`: pending approvals where `person` is a current reviewer, newest first. A
 * project's own reviewers review every approval of it, whatever tier it reached; a person who
 * is only a tier's reviewer reviews those that reached the tier, under the tiers their rules
 * resolved. So those rows are grouped by project, tier and tiers in SQL, each group is asked
 * once as the decision engine would ask, and only the newest rows that are theirs are read.
 */
export async function listInbox(services: Services, people: InboxPeople, person: string): Promise<{ items: InboxItem[]; more: boolean }> {
  const projects = new Map((await listProjects(services.db)).map((p) => [p.key, p]));
  const whole = [...projects.values()].filter((p) => people.reviews(person, p, { provider: p.provider, escalation_tier: 0, policy: null })).map((p) => p.key);
  const others = [...projects.keys()].filter((key) => !whole.includes(key));
  const groups = others.length === 0
    ? []
    : await services.db
        .selectFrom('approvals')
        .select(['project', 'provider', 'escalation_tier', sql<StoredPolicy['escalation'] | null>`policy->'escalation'`.as('escalation'), sql<string | null>`(policy->'escalation')::text`.as('escalation_text')])
        .where('status', '=', 'pending')
        .where('project', 'in', others)
        .where('escalation_tier', '>', 0)
        .groupBy(['project', 'provider', 'escalation_tier', sql`policy->'escalation'`])
        .execute();
  const mine = groups.filter((g) => people.reviews(person, projects.get(g.project)!, { provider: g.provider, escalation_tier: g.escalation_tier, policy: g.escalation ? { escalation: g.escalation, matchedRules: [], batching: false, autoApprove: false } : null }));
  if (whole.length === 0 && mine.length === 0) return { items: [], more: false };
  const rows = await services.db
    .selectFrom('approvals')
    .select(['id', 'project', 'action', 'summary', 'risk', 'created_at', 'required_approvals', 'batch_id', 'escalation_tier', 'policy'])
    .where('status', '=', 'pending')
    .where((eb) =>
      eb.or([
        ...(whole.length > 0 ? [eb('project', 'in', whole)] : []),
        ...mine.map((g) =>
          eb.and([
            eb('project', '=', g.project),
            eb('provider', '=', g.provider),
            eb('escalation_tier', '=', g.escalation_tier),
            g.escalation_text === null ? eb(sql`policy->'escalation'`, 'is', null) : eb(sql`(policy->'escalation')::text`, '=', g.escalation_text),
          ]),
        ),
      ]),
    )
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc')
    // One more than shown: whether older ones wait, without counting them all.
    .limit(INBOX_LIMIT + 1)
    .execute();
  const more = rows.length > INBOX_LIMIT;
  if (more) rows.pop();
  const votes = rows.length === 0
    ? []
    : await services.db
        .selectFrom('decision_votes')
        .select(['approval_id', sql<number>`count(*)::int`.as('n')])
        .where('approval_id', 'in', rows.map((row) => row.id))
        .where('outcome', '=', 'approve')
        .groupBy('approval_id')
        .execute();
  const counts = new Map(votes.map((v) => [v.approval_id, Number(v.n)]));
  return {
    items: rows.map((row) => ({
      id: row.id,
      project: row.project,
      action: row.action,
      summary: row.summary,
      risk: row.risk,
      createdAt: row.created_at,
      votes: counts.get(row.id) ?? 0,
      required: row.required_approvals,
      batchId: row.batch_id,
      deadline: approvalDeadline(row, projects.get(row.project)),
    })),
    more,
  };
}

/**
 * One approval for `person`: shown when they review it now or voted on it; anything else is a
 * 404 exactly like an unknown id. `decides` says whether the form is theirs to use.
 */
export async function readApprovalFor(services: Services, people: InboxPeople, person: string, approvalId: string): Promise<Omit<ApprovalPageData, 'decideWith' | 'now'> & { decides: boolean }> {
  if (!isApprovalId(approvalId)) throw hidden();
  const { approval, votes } = await readApprovalDetail(services.db, approvalId).catch(() => {
    throw hidden();
  });
  const project = await findProject(services.db, approval.project);
  const decides = project !== undefined && people.reviews(person, project, approval);
  const voted = votes.some((v) => people.isEntryOf(person, v.reviewer, approval.provider));
  if (!decides && !voted) throw hidden();
  // Entries committed a moment ago may still be queued: chain them so the trail is complete.
  await services.audit.flush();
  const audit = (await services.db.selectFrom('audit_records').selectAll().where('approval_id', '=', approval.id).orderBy('seq').execute()).map(toAuditRecord);
  return { approval, votes, audit, deadline: approvalDeadline(approval, project), decides, choices: project ? decisionChoices(project, approval) : { edit: false } };
}

/** A batch for `person`: shown when they review its project (its items follow their own tiers on their pages). */
export async function readBatchFor(services: Services, people: InboxPeople, person: string, batchId: string) {
  if (!isBatchId(batchId)) throw hidden();
  const batch = await services.db.selectFrom('batches').selectAll().where('id', '=', batchId).executeTakeFirst();
  if (!batch) throw hidden();
  const project = await findProject(services.db, batch.project);
  const items = await services.db.selectFrom('approvals').selectAll().where('batch_id', '=', batchId).orderBy('created_at').orderBy('id').execute();
  if (!project || !items.some((item) => people.reviews(person, project, item))) throw hidden();
  return { batch, items };
}

/** `GET /admin`: every project with its pending count and queue-time percentiles, dead callbacks, the audit log's last checkpoint. */
export async function adminOverview(services: Services): Promise<AdminOverview> {
  const projects = await listProjects(services.db);
  const pending = await services.db.selectFrom('approvals').select(['project', sql<number>`count(*)::int`.as('n')]).where('status', '=', 'pending').groupBy('project').execute();
  const since = new Date(services.now().getTime() - 30 * 24 * 60 * 60_000);
  const queue = await services.db
    .selectFrom('approvals')
    .select([
      'project',
      sql<number>`count(*)::int`.as('decided'),
      sql<number>`percentile_cont(0.5) within group (order by extract(epoch from decided_at - created_at))`.as('p50'),
      sql<number>`percentile_cont(0.9) within group (order by extract(epoch from decided_at - created_at))`.as('p90'),
      sql<number>`percentile_cont(0.99) within group (order by extract(epoch from decided_at - created_at))`.as('p99'),
    ])
    .where('decided_at', 'is not', null)
    .where('decided_at', '>', since)
    .groupBy('project')
    .execute();
  const dead = await services.db
    .selectFrom('callback_deliveries')
    .select(['approval_id', 'last_status', 'last_error', 'last_attempt_at'])
    .where('status', '=', 'dead')
    .orderBy('last_attempt_at', 'desc')
    .limit(20)
    .execute();
  const deadCount = await services.db.selectFrom('callback_deliveries').select(sql<number>`count(*)::int`.as('n')).where('status', '=', 'dead').executeTakeFirstOrThrow();
  const checkpoint = await services.db.selectFrom('audit_checkpoints').select(['tree_size', 'created_at']).orderBy('tree_size', 'desc').limit(1).executeTakeFirst();
  const head = await services.db.selectFrom('audit_head').select('seq').executeTakeFirst();
  const pendingBy = new Map(pending.map((p) => [p.project, Number(p.n)]));
  const queueBy = new Map(queue.map((q) => [q.project, q]));
  return {
    projects: projects.map((p) => {
      const q = queueBy.get(p.key);
      return {
        key: p.key,
        provider: p.provider,
        reviewers: p.reviewers,
        tiers: (p.escalation ?? []).map((t) => ({ after: t.after, reviewers: t.reviewers ?? [], ...(t.outcome ? { outcome: t.outcome } : {}) })),
        requiredApprovals: p.requiredApprovals,
        pending: pendingBy.get(p.key) ?? 0,
        queue: q ? { decided: Number(q.decided), p50: Number(q.p50) * 1000, p90: Number(q.p90) * 1000, p99: Number(q.p99) * 1000 } : null,
      };
    }),
    deadCallbacks: dead.map((d) => ({ approvalId: d.approval_id, lastStatus: d.last_status, lastError: d.last_error, at: d.last_attempt_at })),
    deadCallbackCount: Number(deadCount.n),
    checkpoint: checkpoint ? { treeSize: Number(checkpoint.tree_size), at: checkpoint.created_at } : null,
    auditRecords: head ? Number(head.seq) : 0,
    grants: await listGrants(services.db, { now: services.now() }),
  };
}
