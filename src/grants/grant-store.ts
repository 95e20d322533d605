import type { Kysely, Selectable, Transaction } from 'kysely';
import type { AuditActor, AuditEntry } from '../audit/audit-record.ts';
import type { AuditedDatabase } from '../audit/audit-log.ts';
import { toJson } from '../db/json.ts';
import type { ApprovalRow, Database, GrantLimits, GrantTable } from '../db/schema.ts';
import { conflict, notFound } from '../primitives/errors.ts';
import { isGrantId } from '../primitives/ids.ts';
import { limitProblem } from './grant-limits.ts';
import { grantable } from '../projects/mapping-schema.ts';

export type GrantRow = Selectable<GrantTable>;

/** A grant as the CLI, the API and the web inbox show it. */
export interface GrantView {
  id: string;
  project: string;
  action: string;
  apiKeyId: string;
  requestedBy: string | null;
  limits: GrantLimits;
  grantedBy: string;
  approvalId: string;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
  revokedBy: string | null;
  uses: number;
  /** Whether it still approves matching requests (not revoked, not expired). */
  active: boolean;
}

export function toGrantView(row: GrantRow, now: Date): GrantView {
  return {
    id: row.id,
    project: row.project,
    action: row.action,
    apiKeyId: row.api_key_id,
    requestedBy: row.requested_by,
    limits: row.limits,
    grantedBy: row.granted_by,
    approvalId: row.approval_id,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    revokedAt: row.revoked_at?.toISOString() ?? null,
    revokedBy: row.revoked_by,
    uses: row.uses,
    active: row.revoked_at === null && row.expires_at > now,
  };
}

/** Writes a grant in the caller's transaction (the decision that creates it) and returns its audit entry. */
export async function insertGrant(
  trx: Transaction<Database>,
  grant: { id: string; approval: ApprovalRow; grantedBy: string; limits: GrantLimits; expiresAt: Date },
  actor: AuditActor,
): Promise<AuditEntry> {
  const { approval } = grant;
  await trx
    .insertInto('grants')
    .values({ id: grant.id, project: approval.project, action: approval.action, api_key_id: approval.api_key_id, requested_by: approval.requested_by, limits: toJson(grant.limits), granted_by: grant.grantedBy, approval_id: approval.id, expires_at: grant.expiresAt })
    .execute();
  return {
    event: 'grant.created',
    approvalId: approval.id,
    actor,
    data: { grantId: grant.id, project: approval.project, action: approval.action, apiKeyId: approval.api_key_id, requestedBy: approval.requested_by, limits: grant.limits, expiresAt: grant.expiresAt.toISOString() },
  };
}

/** What a grant is for: a project's action, asked by one requester (and, at intake, one agent key). */
interface GrantScope {
  project: string;
  action: string;
  requestedBy: string | null;
  apiKeyId?: string;
}

/** The grants of `scope` neither revoked nor expired at `now`, oldest first. */
function activeGrants(db: Kysely<Database>, scope: GrantScope, now: Date) {
  return db
    .selectFrom('grants')
    .selectAll()
    .where('project', '=', scope.project)
    .where('action', '=', scope.action)
    .$if(scope.apiKeyId !== undefined, (query) => query.where('api_key_id', '=', scope.apiKeyId!))
    .where((eb) => (scope.requestedBy === null ? eb('requested_by', 'is', null) : eb('requested_by', '=', scope.requestedBy)))
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', now)
    .orderBy('created_at');
}

/**
 * The grant that approves `approval` at intake, if one does: same project, action, agent key
 * and `requestedBy`, not revoked, not expired at `now`, the payload within its limits. The
 * oldest such grant wins, so which one approved is stable. Locks the grant's row: a revocation
 * committing meanwhile is either before (no match) or after (this approval was granted first).
 */
export async function findMatchingGrant(trx: Transaction<Database>, approval: Pick<ApprovalRow, 'project' | 'action' | 'api_key_id' | 'requested_by' | 'payload'>, now: Date): Promise<GrantRow | undefined> {
  const scope = { project: approval.project, action: approval.action, requestedBy: approval.requested_by, apiKeyId: approval.api_key_id };
  const candidates = await activeGrants(trx, scope, now).forUpdate().execute();
  return candidates.find((grant) => limitProblem(grant.limits, approval.payload) === undefined);
}

/**
 * For `projects explain`: the active grants that would approve a request like `sample` from
 * some agent key (a grant covers one key, which the sample does not name), with the same
 * rules as intake: project, action, requester, limits, and only where a grant may approve at all.
 */
export async function grantsCovering(
  db: Kysely<Database>,
  sample: { project: string; action: string; requestedBy: string | null; payload: unknown; risk: ApprovalRow['risk']; requiredApprovals: number },
  now: Date,
): Promise<GrantView[]> {
  if (!grantable(sample.risk, sample.requiredApprovals)) return [];
  const rows = await activeGrants(db, sample, now).execute();
  return rows.filter((row) => limitProblem(row.limits, sample.payload) === undefined).map((row) => toGrantView(row, now));
}

export async function countGrantUse(trx: Transaction<Database>, grantId: string): Promise<void> {
  await trx
    .updateTable('grants')
    .set((eb) => ({ uses: eb('uses', '+', 1) }))
    .where('id', '=', grantId)
    .execute();
}

export async function listGrants(db: Kysely<Database>, options: { project?: string; includeInactive?: boolean; now: Date }): Promise<GrantView[]> {
  let query = db.selectFrom('grants').selectAll().orderBy('created_at', 'desc');
  if (options.project) query = query.where('project', '=', options.project);
  if (!options.includeInactive) query = query.where('revoked_at', 'is', null).where('expires_at', '>', options.now);
  return (await query.execute()).map((row) => toGrantView(row, options.now));
}

/** Revokes a grant at once: from the commit on, it approves nothing. Revoking twice is a conflict, not a second record. */
export async function revokeGrant({ db, audit }: AuditedDatabase, grantId: string, actor: AuditActor, now: Date): Promise<GrantView> {
  if (!isGrantId(grantId)) throw notFound(`no grant ${grantId}`);
  return db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('grants').selectAll().where('id', '=', grantId).forUpdate().executeTakeFirst();
    if (!row) throw notFound(`no grant ${grantId}`);
    if (row.revoked_at !== null) throw conflict('already_revoked', `grant ${grantId} was revoked at ${row.revoked_at.toISOString()}`);
    const revoked = await trx.updateTable('grants').set({ revoked_at: now, revoked_by: actor.id }).where('id', '=', grantId).returningAll().executeTakeFirstOrThrow();
    await audit.append(trx, { event: 'grant.revoked', approvalId: row.approval_id, actor, data: { grantId, expired: row.expires_at <= now } });
    return toGrantView(revoked, now);
  });
}
