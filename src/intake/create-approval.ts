import { queueChannelNotice } from '../channels/channel-notices.ts';
import { checkCallbackUrl } from '../callbacks/callback-url-policy.ts';
import { sql, type QueryCreator, type Transaction } from 'kysely';
import { joinBatch } from '../batching/batches.ts';
import { executorFor } from '../db/open-database.ts';
import { escalationTimer } from '../escalation/escalation.ts';
import type { JobData, JobInsert, QueueName } from '../jobs/job-queue.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import { resolvePolicy, storedPolicy, type ApprovalPolicy } from '../rules/resolve-policy.ts';
import { afterDecisionCommitted, finalize } from '../approvals/decide-approval.ts';
import { toJson } from '../db/json.ts';
import type { ApprovalRow, Database } from '../db/schema.ts';
import { CountersignError, unauthorized, unprocessable } from '../primitives/errors.ts';
import { newApprovalId } from '../primitives/ids.ts';
import { keyIsLive, type Principal } from '../keys/api-keys.ts';
import { projectCacheFor, type VersionedProject } from './project-cache.ts';
import type { Services } from '../services.ts';
import { parseRequestBody } from '../primitives/validation.ts';
import { requireProjectAccess, requireScope } from '../approvals/access.ts';
import { toApprovalView, type ApprovalView } from '../approvals/approval-view.ts';
import { intakeSchema, type IntakeRequest } from '../contract/intake-schema.ts';
import { countGrantUse, findMatchingGrant } from '../grants/grant-store.ts';
import { grantable } from '../projects/mapping-schema.ts';
import { jsonSchemaProblem, payloadSchemaErrors } from '../primitives/json-schema.ts';
import { canonicalJson, payloadHash, sha256Hex } from '../primitives/canonical-json.ts';

export interface IntakeResult {
  approval: ApprovalView;
  /** True when an Idempotency-Key matched an earlier request and nothing new was written. */
  replayed: boolean;
}

/** Thrown inside the transaction to roll it back when the Idempotency-Key was taken meanwhile. */
class IdempotencyKeyTaken extends Error {}

/** Thrown inside the transaction to roll it back when the project's mapping changed since it was read. */
class MappingChanged extends Error {}

/** Tries with a fresh mapping after one changed under the request; beyond, the caller is asked to retry. */
const MAPPING_ATTEMPTS = 3;

/**
 * Accepts an approval request: the row, its audit entry and its first job (open the ticket,
 * close the batch, fire the first escalation tier) commit in one transaction, so there is
 * never an approval without its job nor a job without its row. Returns at once; a provider
 * ticket is opened by the job (a `local` approval is its own ticket from the start).
 */
export async function createApproval(services: Services, principal: Principal, body: unknown, idempotencyKey?: string): Promise<IntakeResult> {
  requireScope(principal, 'intake');
  const request = parseRequestBody(intakeSchema, body);
  requireProjectAccess(principal, request.project);
  const projects = projectCacheFor(services.db);
  for (let attempt = 1; ; attempt++) {
    const project = await projects.find(request.project);
    if (!project) throw unprocessable('unknown_project', `project: no project "${request.project}" is mapped on this server`);
    try {
      return await createWithMapping(services, principal, request, project, idempotencyKey);
    } catch (error) {
      if (!(error instanceof MappingChanged)) throw error;
      projects.forget(request.project);
      if (attempt === MAPPING_ATTEMPTS) throw new CountersignError(409, 'mapping_changed', `project ${request.project}'s mapping changed while this request was made; retry`);
    }
  }
}

/**
 * The intake itself, with the mapping as cached: its write confirms that this is still the
 * project's mapping and that the key is still unrevoked, in the same statement that inserts
 * the row (no extra round trip), and rolls back otherwise.
 */
async function createWithMapping(services: Services, principal: Principal, request: IntakeRequest, { mapping: project, version }: VersionedProject, idempotencyKey: string | undefined): Promise<IntakeResult> {

  if (request.callbackUrl) await checkCallbackUrl(request.callbackUrl, principal.callbackHosts, services.resolveHost);

  // Only a keyed request is hashed whole: the hash is what its replays are matched on.
  const idempotency = idempotencyKey === undefined ? undefined : { key: idempotencyKey, requestHash: sha256Hex(canonicalJson(request)) };
  if (idempotency) {
    const earlier = await findIdempotentReplay(services, principal, idempotency);
    if (earlier) return earlier;
  }

  checkPayloadSchema(project, request);
  const policy = resolvePolicy(project, { risk: request.risk, action: request.action, labels: request.labels });
  const payload = request.payload ?? null;
  const id = newApprovalId();
  const adapter = services.providers.get(project.provider);
  // A request that goes to a ticket of its own, on a provider whose ticket is the approval itself.
  const ticketNow = !policy.autoApprove && !policy.batching ? adapter.ticketAtIntake?.({ approvalId: id, approvalUrl: `${services.config.publicUrl}/v1/approvals/${id}` }) : undefined;
  const row = {
    id,
    project: project.key,
    provider: project.provider,
    action: request.action,
    summary: request.summary,
    details: request.details ?? null,
    payload: toJson(payload),
    payload_hash: payloadHash(payload),
    risk: request.risk,
    labels: toJson(request.labels),
    requested_by: request.requestedBy ?? null,
    callback_url: request.callbackUrl ?? null,
    api_key_id: principal.keyId,
    status: 'pending' as const,
    required_approvals: policy.requiredApprovals,
    policy: toJson(storedPolicy(policy)),
    payload_schema: request.payloadSchema === undefined ? null : toJson(request.payloadSchema),
    ...(ticketNow ? { ticket: toJson(ticketNow) } : {}),
  };

  const requested = {
    event: 'approval.requested' as const,
    approvalId: id,
    actor: { kind: 'agent' as const, id: principal.keyId, via: 'api' },
    data: {
      project: row.project,
      action: row.action,
      summary: row.summary,
      payloadHash: row.payload_hash,
      risk: row.risk,
      requestedBy: row.requested_by,
      requiredApprovals: row.required_approvals,
      matchedRules: policy.matchedRules,
      ...(ticketNow ? { ticket: ticketNow } : {}),
    },
  };
  // What the new approval needs after its row. Jobs alone (its ticket, its first escalation
  // timer) are written by the row's own statement; anything that reads or decides runs after it,
  // in the transaction.
  const route = intakeRoute(services, project, policy, row);
  const jobs = await Promise.all(route.jobs.map((job) => services.jobs.jobInsert(job.queue, job.data, job.startAfterSeconds === undefined ? {} : { startAfterSeconds: job.startAfterSeconds })));
  // The row, its audit entry and its jobs in one statement. Its VALUES also check what this request
  // took from the process's caches (migration 0021): the key is unrevoked and the mapping is the
  // one read, or the statement fails whole. Intake is the hot path: no extra round trip for either.
  const insert = (db: QueryCreator<Database>) =>
    withJobInserts(db, jobs)
      .insertInto('approvals')
      .values({ ...row, api_key_id: sql<string>`countersign_live_key(${principal.keyId})`, project: sql<string>`countersign_mapped_project(${project.key}, ${version})` })
      .returningAll()
      .executeTakeFirstOrThrow();
  // Nothing to write after the statement (no decision, batch or notice, no key to claim): it is
  // the whole intake and commits alone, atomically, without BEGIN and COMMIT around it.
  const alone = services.audit.appendWithAlone !== undefined && !idempotency && route.inTransaction === undefined;

  let created: ApprovalRow;
  try {
    created = alone
      ? await services.audit.appendWithAlone!(services.db, requested, insert)
      : await services.db.transaction().execute(async (trx) => {
          const inserted = await services.audit.appendWith(trx, requested, insert);
          if (idempotency) {
            const claimed = await trx
              .insertInto('idempotency_keys')
              .values({ api_key_id: principal.keyId, key: idempotency.key, request_hash: idempotency.requestHash, approval_id: inserted.id })
              .onConflict((oc) => oc.doNothing())
              .returning('key')
              .executeTakeFirst();
            if (!claimed) throw new IdempotencyKeyTaken();
          }
          return route.inTransaction ? route.inTransaction(trx, inserted) : inserted;
        });
  } catch (error) {
    const check = failedIntakeCheck(error);
    if (check === 'key') throw unauthorized('unknown or revoked API key');
    if (check === 'mapping') throw new MappingChanged();
    if (!(error instanceof IdempotencyKeyTaken) || !idempotency) throw error;
    // A concurrent request with the same key committed first: answer as it did.
    const earlier = await findIdempotentReplay(services, principal, idempotency);
    if (!earlier) throw new CountersignError(409, 'idempotency_conflict', 'a request with this Idempotency-Key is still in flight; retry');
    return earlier;
  }

  for (const job of jobs) job.committed();
  services.metrics.observeIntake(created.project, 'accepted');
  if (created.status !== 'pending') afterDecisionCommitted(services, created);
  return { approval: toApprovalView(created), replayed: false };
}

/** A job the row's own statement writes (job-queue.ts `jobInsert`). */
type IntakeJob = { [Q in QueueName]: { queue: Q; data: JobData[Q]; startAfterSeconds?: number } }[QueueName];

/**
 * Where a new approval goes: decided at once by an `autoApprove` rule (actor policy) or a
 * standing grant, into the project's open batch, or to its own ticket; escalation timers start
 * for anything left pending. `jobs` commit in the row's own statement; `inTransaction`, when
 * set, runs after the row in its transaction (a grant or batch must be read, a notice's row
 * written). The one place that decides it, for both databases.
 */
function intakeRoute(services: Services, project: ProjectMapping, policy: ApprovalPolicy, row: Pick<ApprovalRow, 'id' | 'risk' | 'required_approvals'> & { ticket?: unknown }): { jobs: IntakeJob[]; inTransaction?: (trx: Transaction<Database>, approval: ApprovalRow) => Promise<ApprovalRow> } {
  if (policy.autoApprove) return { jobs: [], inTransaction: (trx, approval) => autoApprove(services, trx, approval, policy) };
  const mayBeGranted = project.grants !== undefined && grantable(row.risk, row.required_approvals);
  const noticed = services.channels.for(project).length > 0;
  if (!mayBeGranted && !policy.batching && !noticed) return { jobs: pendingJobs(policy, row, { batched: false }) };
  return {
    jobs: [],
    inTransaction: async (trx, approval) => {
      const granted = mayBeGranted ? await approveByGrant(services, trx, approval, project) : undefined;
      if (granted) return granted;
      if (policy.batching) approval = { ...approval, batch_id: await joinBatch(services, trx, approval, project) };
      await queueChannelNotice(services, trx, approval, { kind: 'needs-review', tier: 0 }, project);
      for (const job of pendingJobs(policy, approval, { batched: policy.batching })) {
        await services.jobs.send(executorFor(trx), job.queue, job.data, job.startAfterSeconds === undefined ? {} : { startAfter: new Date(approval.created_at.getTime() + job.startAfterSeconds * 1000) });
      }
      return approval;
    },
  };
}

/**
 * `db` with each job's insert as a CTE of the statement it starts. kysely types a CTE's body as
 * one of its own builders; pg-boss's insert is raw SQL (parenthesised), which kysely compiles as
 * written, and a data-modifying CTE runs whether or not the statement reads it.
 */
function withJobInserts(db: QueryCreator<Database>, jobs: readonly JobInsert[]): QueryCreator<Database> {
  type CteBody = Parameters<QueryCreator<Database>['with']>[1];
  return jobs.reduce((creator, job, index) => creator.with(`intake_job_${index}`, (() => job.statement) as unknown as CteBody) as unknown as QueryCreator<Database>, db);
}

/** The jobs a pending approval starts with: its ticket (unless batched or already its own) and its first escalation timer. */
function pendingJobs(policy: ApprovalPolicy, row: Pick<ApprovalRow, 'id'> & { ticket?: unknown }, { batched }: { batched: boolean }): IntakeJob[] {
  const jobs: IntakeJob[] = [];
  if (!batched && (row.ticket === undefined || row.ticket === null)) jobs.push({ queue: 'ticket-create', data: { approvalId: row.id } });
  const timer = escalationTimer(policy.escalation, row.id, 1);
  if (timer) jobs.push({ queue: 'escalation-timer', data: timer.data, startAfterSeconds: timer.afterMs / 1000 });
  return jobs;
}

async function autoApprove(services: Services, trx: Transaction<Database>, approval: ApprovalRow, policy: ApprovalPolicy): Promise<ApprovalRow> {
  const rule = policy.sources.autoApprove;
  const reason = `auto-approved by ${rule}`;
  const decided = await finalize(services, trx, approval, { outcome: 'approved', by: ['policy'], reason });
  await services.audit.append(trx, { event: 'approval.decided', approvalId: approval.id, actor: { kind: 'policy', id: rule, via: 'intake' }, data: { outcome: 'approved', reason, rule } });
  return decided;
}

/** Which of the insert's checks (migration 0021) failed it, if one did: their SQLSTATEs, on PostgreSQL and PGlite alike. */
function failedIntakeCheck(error: unknown): 'key' | 'mapping' | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'CSK01' ? 'key' : code === 'CSM01' ? 'mapping' : undefined;
}

/**
 * The request's payload schema must be one this server can use, and the payload must satisfy it
 * (or the mapping's): a reviewer's edit is held to the same schema later.
 */
function checkPayloadSchema(project: ProjectMapping, request: IntakeRequest): void {
  if (request.payloadSchema !== undefined) {
    const problem = jsonSchemaProblem(request.payloadSchema);
    if (problem) throw unprocessable('invalid_payload_schema', `payloadSchema: not a JSON Schema this server can use: ${problem}`);
  }
  const schema = request.payloadSchema ?? project.payloadSchema;
  if (schema === undefined || request.payload === undefined) return;
  const errors = payloadSchemaErrors(schema, request.payload);
  if (errors.length > 0) throw unprocessable('payload_schema_mismatch', `payload does not match ${request.payloadSchema === undefined ? `project ${project.key}'s payloadSchema` : 'its payloadSchema'}: ${errors.join('; ')}`);
}

/**
 * A standing grant that covers the request approves it at once, as actor `grant:<id>`: same
 * project, action, key and requester, within its limits, while it lasts, on a project that
 * still allows grants, for a request a grant may stand in for (not high risk, one approval).
 */
async function approveByGrant(services: Services, trx: Transaction<Database>, approval: ApprovalRow, project: ProjectMapping): Promise<ApprovalRow | undefined> {
  if (!project.grants || !grantable(approval.risk, approval.required_approvals)) return undefined;
  const grant = await findMatchingGrant(trx, approval, services.now());
  if (!grant) return undefined;
  const actor = `grant:${grant.id}`;
  const reason = `approved by standing grant ${grant.id} (granted by ${grant.granted_by} on ${grant.approval_id}, until ${grant.expires_at.toISOString()})`;
  const decided = await finalize(services, trx, approval, { outcome: 'approved', by: [actor], reason, grant: { id: grant.id, expiresAt: grant.expires_at.toISOString() } });
  await countGrantUse(trx, grant.id);
  await services.audit.append(trx, { event: 'approval.decided', approvalId: approval.id, actor: { kind: 'policy', id: actor, via: 'intake' }, data: { outcome: 'approved', reason, grantId: grant.id } });
  return decided;
}

async function findIdempotentReplay(services: Services, principal: Principal, { key, requestHash }: { key: string; requestHash: string }): Promise<IntakeResult | undefined> {
  const earlier = await services.db
    .selectFrom('idempotency_keys')
    .innerJoin('approvals', 'approvals.id', 'idempotency_keys.approval_id')
    .selectAll('approvals')
    .select('idempotency_keys.request_hash')
    // The principal may come from a cache: a revoked key is shown nothing, and its write is refused.
    .select(keyIsLive(principal.keyId).as('key_live'))
    .where('idempotency_keys.api_key_id', '=', principal.keyId)
    .where('idempotency_keys.key', '=', key)
    .executeTakeFirst();
  if (!earlier) return undefined;
  if (!earlier.key_live) throw unauthorized('unknown or revoked API key');
  if (earlier.request_hash !== requestHash) {
    throw unprocessable('idempotency_key_reused', 'this Idempotency-Key was already used with a different request body');
  }
  services.metrics.observeIntake(earlier.project, 'replayed');
  const { request_hash: _, key_live: _live, ...approval } = earlier;
  return { approval: toApprovalView(approval), replayed: true };
}
