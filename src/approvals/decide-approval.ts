import { setImmediate } from 'node:timers/promises';
import { sql, type Insertable, type Kysely, type QueryCreator, type RawBuilder, type Transaction } from 'kysely';
import { decisionAuditEntry } from './decision-audit-entry.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { AuditEntry } from '../audit/audit-record.ts';
import type { CallbackDelivery, DecidingStatement } from '../callbacks/callback-delivery.ts';
import { markStep } from '../callbacks/step-timings.ts';
import type { ActorIdentity, People, PeopleDirectory } from '../channels/people-directory.ts';
import { queueChannelNotice, type ChannelNoticeQueueDeps } from '../channels/channel-notices.ts';
import { executorFor, type AppDatabase } from '../db/open-database.ts';
import { toJson } from '../db/json.ts';
import type { ApprovalRow, Database, DecisionRecord, DecisionVoteTable } from '../db/schema.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import { insertVote, lockApproval, lockApprovalWithContext, readDecisionContext, withVote } from './decision-reads.ts';
import { queueTicketUpdate, type TicketUpdateQueueDeps } from './queue-ticket-update.ts';
import { APPROVAL_CHANNEL } from '../db/approval-events.ts';
import { insertGrant } from '../grants/grant-store.ts';
import { newGrantId } from '../primitives/ids.ts';
import { applyPayloadEdit, checkEditAndGrant } from './vote-extras.ts';
import { editRecord } from './payload-edit.ts';
import type { DecisionAttempt, DecisionResult, NotCountedVote, RefusalCode } from './decision-attempt.ts';

/**
 * What the decision engine works with, and nothing more (the shape of `createCallbackDelivery`'s
 * options): the database, the audit log, the ticket-update queue, the people directory, the
 * agent's callback, the decision metric and the clock. `Services` has all of them, so a request,
 * a job or the CLI passes its services; a unit test passes exactly these.
 */
export interface DecisionDeps extends TicketUpdateQueueDeps, ChannelNoticeQueueDeps {
  readonly jobs: TicketUpdateQueueDeps['jobs'] & ChannelNoticeQueueDeps['jobs'];
  readonly db: Kysely<Database>;
  /** Which database `db` is: on PGlite transactions run one at a time, which saves the decision a read. */
  readonly database: Pick<AppDatabase, 'kind'>;
  readonly audit: Pick<AuditLog, 'append' | 'appendWith'>;
  /** Turns the attempt's actor into a person (src/channels/people-directory.ts). */
  readonly people: PeopleDirectory;
  readonly callbacks: Pick<CallbackDelivery, 'scheduleWith' | 'deliverSoon'>;
  readonly metrics: Pick<Metrics, 'observeDecision'>;
  readonly now: () => Date;
}

/**
 * The audit record of the decision `finalize` makes, written with its update: where entries are
 * queued (PostgreSQL) the one statement moves the approval and queues its record. `entry` gets
 * the approval as the update leaves it.
 */
export interface FinalizeAudit {
  readonly audit: Pick<AuditLog, 'appendWith'>;
  entry(decided: ApprovalRow): AuditEntry;
}

/** What rides on the deciding update besides the decision itself. */
export interface FinalizeWith {
  audited?: FinalizeAudit;
  /** The vote that decides it (a reviewer's decision, not a rule's or a timer's). */
  vote?: Insertable<DecisionVoteTable>;
}

/** What finalizing a decision needs: {@link DecisionDeps} without the audit log, the people directory or the metric. */
export type FinalizeDeps = Pick<DecisionDeps, 'jobs' | 'providers' | 'channels' | 'callbacks' | 'now'>;

/** What the caller already read about the attempt's approval, so the engine does not read it again (only the locked row). */
export interface KnownContext {
  /** The approval's project, as the webhook or reconciliation path resolved it (activity-target.ts). */
  project?: ProjectMapping;
  /**
   * Claims the ticket activity this attempt comes from, right after the approval's row lock:
   * the claim commits with the vote, its refusal and its audit record, or not at all, so a crash
   * in between cannot leave an activity taken whose vote was never recorded. False (taken
   * before) makes `decideApproval` throw ActivityAlreadyApplied, with nothing written.
   */
  claim?: (trx: Transaction<Database>) => Promise<boolean>;
  /**
   * The API key the attempt is made with, read earlier from a cache (principal-cache.ts): the
   * row lock's own statement confirms it is still unrevoked, and a revoked key is answered 401
   * with nothing written, as if it had been read from the database first.
   */
  liveKey?: string;
  /**
   * The caller's own conditions on the locked approval (the review API: the key's project, a
   * provider decided here), checked before anything is written: it throws to refuse the attempt.
   */
  accept?: (approval: ApprovalRow) => void;
}

/** The attempt's ticket activity was applied before (a redelivery, or reconciliation seeing it again): nothing was written. */
export class ActivityAlreadyApplied extends Error {
  constructor() {
    super('this ticket activity was applied before');
    this.name = 'ActivityAlreadyApplied';
  }
}

export type { DecisionAttempt, DecisionResult, NotCountedVote, RefusalCode } from './decision-attempt.ts';

/**
 * The one decision engine. The approval row is locked for the whole attempt, so two
 * attempts racing (two webhooks, two instances) are applied one after the other: the
 * first to decide wins and the other finds a terminal state and is recorded as late.
 */
export async function decideApproval(deps: DecisionDeps, attempt: DecisionAttempt, known: KnownContext = {}): Promise<DecisionResult> {
  markStep(attempt.approvalId, 'decision.started');
  const result = await deps.db.transaction().execute(async (trx) => {
    // Every attempt, whatever its outcome, is audited: as the transaction's last statement, or
    // (a decision) by finalize's own update, where a queued entry needs no round trip of its own.
    const audited = async <R extends DecisionResult>(outcome: R): Promise<R> => {
      await deps.audit.append(trx, decisionAuditEntry(attempt, outcome));
      return outcome;
    };
    const auditedBy = (outcome: (approval: ApprovalRow) => Extract<DecisionResult, { result: 'decided' }>): FinalizeAudit => ({
      audit: deps.audit,
      entry: (approval) => decisionAuditEntry(attempt, outcome(approval)),
    });
    // Where transactions run one at a time (PGlite), the lock never waits and the context rides on it.
    const locked = deps.database.kind === 'pglite' ? await lockApprovalWithContext(trx, attempt.approvalId, known.liveKey, known.project) : { approval: await lockApproval(trx, attempt.approvalId, known.liveKey), context: undefined };
    const { approval } = locked;
    known.accept?.(approval);
    // Claimed after the row lock, never before: the claim's foreign key takes a share lock on the
    // approval, and two attempts each holding that while waiting for the other's FOR UPDATE deadlock.
    if (known.claim && !(await known.claim(trx))) throw new ActivityAlreadyApplied();
    if (approval.status !== 'pending') return audited({ result: 'late', approval } as const);

    // Elsewhere read after the lock, never with it: a statement that waited for the lock still
    // sees the votes and mapping of the moment it started, not the vote it waited for.
    const context = locked.context ?? (await readDecisionContext(trx, approval, known.project?.key === approval.project ? known.project : undefined));
    const { project } = context;
    const people = deps.people.of(context.people);
    const actor: ActorIdentity = { namespace: attempt.namespace ?? approval.provider, id: attempt.reviewer };
    const check = project ? checkReviewer(people, project, approval, actor) : { code: 'not_a_reviewer' as const, reason: `project ${approval.project} is no longer mapped` };
    // A refusal is said where the attempt was made: on the ticket when it came from there
    // (and the ticket change undone); a channel answers its own person (Slack: ephemeral).
    const refuse = async (refusal: { code: RefusalCode; reason: string; errors?: string[] }) => {
      if (actor.namespace === approval.provider) {
        await queueTicketUpdate(deps, executorFor(trx), approval.provider, { approvalId: approval.id, update: 'refused', actor: attempt.reviewer, reason: refusal.reason, ...(attempt.revert ? { revert: attempt.revert } : {}) });
      }
      return audited({ result: 'refused', approval, ...refusal } as const);
    };
    if ('code' in check) return refuse(check);
    // Votes are kept under the mapping's spelling, so `Alice` and `alice` are one reviewer
    // (also when the mapping's spelling changed since an earlier vote), and one person who
    // decides in two channels is one vote.
    const reviewer = check.reviewer;
    const extras = checkEditAndGrant(project!, approval, attempt);
    if ('code' in extras) return refuse(extras);
    // Applied only once nothing else can refuse the attempt: a refused attempt changes nothing.
    const { current, edit } = extras.edit ? await applyPayloadEdit(trx, approval, extras.edit) : { current: approval, edit: undefined };
    const editInfo = edit ? { edit } : {};
    // The ticket shows the payload as it now stands, in canonical form, for the next approver.
    if (edit) await queueTicketUpdate(deps, executorFor(trx), approval.provider, { approvalId: approval.id, update: 'edited' });
    // The edit took back the approvals given so far (applyPayloadEdit): they are no earlier votes now.
    const earlier = edit ? context.votes.filter((v) => v.outcome !== 'approve') : context.votes;
    if (earlier.some((v) => people.samePerson(approval.provider, v.reviewer, reviewer))) {
      return audited({ result: 'refused', approval, code: 'already_voted', reason: `${reviewer} has already voted on this approval; ${approval.required_approvals} distinct reviewers are needed` } as const);
    }
    // Votes are cast only under the approval's row lock, so those read after it are all there
    // are: the approvals that stand once this one is cast are known without asking, and the vote
    // rides on the attempt's one write (the decision's update, or its audit entry).
    const vote = { approval_id: approval.id, reviewer, outcome: attempt.outcome, reason: attempt.reason ?? null, via: attempt.via };
    const approvals = [...earlier.filter((v) => v.outcome === 'approve'), ...(attempt.outcome === 'approve' ? [{ reviewer }] : [])];

    if (attempt.outcome === 'reject') {
      const decision: Omit<DecisionRecord, 'at'> = { outcome: 'rejected', by: [reviewer], reason: attempt.reason ?? null };
      return { result: 'decided', approval: await finalize(deps, trx, current, decision, { vote, audited: auditedBy((approval) => ({ result: 'decided', approval })) }) } as const;
    }
    const { counted, notCounted } = countApprovals(people, project!, current, approvals);
    if (counted.length < current.required_approvals) {
      await queueChannelNotice(deps, trx, current, { kind: 'counted', by: reviewer }, project);
      const outcome = { result: 'counted', approval: current, approvals: counted.length, required: current.required_approvals, notCounted, ...editInfo } as const;
      await deps.audit.appendWith(trx, decisionAuditEntry(attempt, outcome), (db) => insertVote(db, vote).execute());
      return outcome;
    }
    const grant = attempt.grant ? { id: newGrantId(), expiresAt: new Date(deps.now().getTime() + attempt.grant.hours * 3_600_000) } : undefined;
    const approved: Omit<DecisionRecord, 'at'> = { outcome: 'approved', by: counted, reason: attempt.reason ?? null };
    if (!grant) {
      return { result: 'decided', approval: await finalize(deps, trx, current, approved, { vote, audited: auditedBy((approval) => ({ result: 'decided', approval, notCounted, ...editInfo })) }), notCounted, ...editInfo } as const;
    }
    // The grant's record comes before the decision's, which names the grant: audited last, apart.
    const decided = await finalize(deps, trx, current, { ...approved, grant: { id: grant.id, expiresAt: grant.expiresAt.toISOString() } }, { vote });
    const created = await insertGrant(trx, { ...grant, approval: decided, grantedBy: reviewer, limits: attempt.grant!.limits ?? {} }, { kind: 'reviewer', id: attempt.reviewer, via: attempt.via });
    await deps.audit.append(trx, created);
    return audited({ result: 'decided', approval: decided, notCounted, ...editInfo } as const);
  });

  markStep(attempt.approvalId, 'decision.committed');
  if (result.result === 'decided') {
    afterDecisionCommitted(deps, result.approval);
    // The agent is the one waiting: the callback its commit started (written on the next tick)
    // goes out before this answer to the reviewer, one turn of the event loop later.
    if (result.approval.callback_url) await setImmediate();
  }
  return result;
}

/**
 * The approvals that count now, first vote first (the `by` of an approval), against the
 * mapping as it is at this moment: a vote by someone who is no longer a reviewer of the
 * approval (removed from the mapping since they voted) is left out, with why, so the audit
 * record of the decision says which votes it did not count.
 */
export async function countedApprovals(
  trx: Transaction<Database>,
  people: People,
  project: ProjectMapping,
  approval: Pick<ApprovalRow, 'id' | 'escalation_tier' | 'policy' | 'provider'>,
): Promise<{ counted: string[]; notCounted: NotCountedVote[] }> {
  const votes = await trx.selectFrom('decision_votes').select('reviewer').where('approval_id', '=', approval.id).where('outcome', '=', 'approve').orderBy('created_at').orderBy('reviewer').execute();
  return countApprovals(people, project, approval, votes);
}

/** {@link countedApprovals} of approvals already read, first vote first. */
function countApprovals(
  people: People,
  project: ProjectMapping,
  approval: Pick<ApprovalRow, 'escalation_tier' | 'policy' | 'provider'>,
  votes: ReadonlyArray<{ reviewer: string }>,
): { counted: string[]; notCounted: NotCountedVote[] } {
  const reviewers = [...authorizedReviewers(project, approval)];
  const counted: string[] = [];
  const notCounted: NotCountedVote[] = [];
  for (const { reviewer } of votes) {
    if (reviewers.some((current) => people.samePerson(approval.provider, current, reviewer))) counted.push(reviewer);
    else notCounted.push({ reviewer, reason: `${reviewer} is no longer a reviewer of project ${project.key}; their earlier approval no longer counts` });
  }
  return { counted, notCounted };
}

/**
 * Once a decision has committed: record its queue time. The agent's callback is already on its
 * way: `callbacks.scheduleWith` (in `finalize`) sends it from the commit itself.
 */
export function afterDecisionCommitted(deps: Pick<DecisionDeps, 'metrics' | 'callbacks'>, approval: ApprovalRow): void {
  deps.metrics.observeDecision(approval);
}

/**
 * Who may decide: the mapping's reviewers and those of every escalation tier the approval
 * has reached (tiers as its rules resolved them at intake), never the requester.
 */
export function authorizedReviewers(project: ProjectMapping, approval: Pick<ApprovalRow, 'escalation_tier' | 'policy'>): Set<string> {
  const reviewers = new Set(project.reviewers);
  const tiers = approval.policy?.escalation ?? project.escalation ?? [];
  for (const tier of tiers.slice(0, approval.escalation_tier)) for (const login of tier.reviewers ?? []) reviewers.add(login);
  return reviewers;
}

/**
 * The mapping's spelling of the reviewer `actor` is, among those who may decide `approval` now,
 * through the people directory; `undefined` when `actor` is none of them. Escalating by label
 * and the web inbox's list ask the same question as deciding.
 */
export function findReviewer(people: People, project: ProjectMapping, approval: Pick<ApprovalRow, 'escalation_tier' | 'policy' | 'provider'>, actor: ActorIdentity): string | undefined {
  return people.findAmong(actor, authorizedReviewers(project, approval), approval.provider);
}

/**
 * Authorizes a decision attempt. Identities compare through the people directory (a person in
 * any of their channels; otherwise the provider's rules, identity-key.ts: NFKC, trimmed,
 * case-folded for GitHub logins), so a request made as `Alice` or `ａｌｉｃｅ` cannot be approved
 * by `alice`, nor by the person whose Slack or email that requester is; an authorized attempt is
 * answered with the mapping's own spelling of the reviewer.
 */
function checkReviewer(people: People, project: ProjectMapping, approval: ApprovalRow, actor: ActorIdentity): { code: RefusalCode; reason: string } | { reviewer: string } {
  const reviewer = findReviewer(people, project, approval, actor);
  if (reviewer === undefined) {
    return { code: 'not_a_reviewer', reason: `${actor.id} is not a reviewer of project ${project.key}` };
  }
  const requester = approval.requested_by;
  if (requester !== null && people.isRequester(requester, actor, reviewer, approval.provider)) {
    return { code: 'self_approval', reason: `${actor.id} requested this approval and cannot decide it` };
  }
  return { reviewer };
}

/**
 * Moves a pending approval to its terminal state, queues the ticket update and the
 * callback, and wakes long polls. Call `afterDecisionCommitted` once the transaction commits.
 */
export async function finalize(deps: FinalizeDeps, trx: Transaction<Database>, approval: ApprovalRow, decision: Omit<DecisionRecord, 'at'>, { audited, vote }: FinalizeWith = {}): Promise<ApprovalRow> {
  const at = deps.now();
  // An approval of an edited payload says what was changed, whoever (or whatever) approved it last.
  const record: DecisionRecord = { ...decision, ...(decision.outcome === 'approved' ? editRecord(approval) : {}), at: at.toISOString() };
  const decided: ApprovalRow = { ...approval, status: decision.outcome, decided_at: at, decision: record };
  // The long polls' wake-up goes with the update itself (one round trip): notified for the row
  // updated, and delivered at commit like any notification. The deciding vote, the callback's
  // delivery and (where entries are queued) the audit record ride on the same statement.
  const update: DecidingStatement = (db) =>
    db
      .updateTable('approvals')
      .set({ status: decision.outcome, decided_at: at, decision: toJson(record) })
      .where('id', '=', approval.id)
      .where('status', '=', 'pending')
      .returning(approvalChangedNotice(sql.ref('approvals.id')).as('notified'));
  const write = (db: QueryCreator<Database>) => deps.callbacks.scheduleWith(trx, decided, vote ? withVote(db, vote) : db, update);
  if (audited) await audited.audit.appendWith(trx, audited.entry(decided), write);
  else await write(trx);
  await queueTicketUpdate(deps, executorFor(trx), approval.provider, { approvalId: approval.id, update: 'decided' });
  await queueChannelNotice(deps, trx, approval, { kind: 'decided' });
  // What the update left: the row was locked since it was read, and only these columns changed.
  return decided;
}

/** Delivered at commit, to every instance listening on the same database. */
export async function notifyApprovalChanged(trx: Transaction<Database>, approvalId: string): Promise<void> {
  await sql`select ${approvalChangedNotice(sql.val(approvalId))}`.execute(trx);
}

/** The notification that the approval `approvalId` changed, as an expression a statement can carry. */
const approvalChangedNotice = (approvalId: RawBuilder<unknown>) => sql<string>`pg_notify(${APPROVAL_CHANNEL}, ${approvalId})`;
