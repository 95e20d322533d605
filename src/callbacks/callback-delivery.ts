import { Webhook } from 'standardwebhooks';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import { ulid } from 'ulid';
import { onCommit } from '../db/commit-hooks.ts';
import { executorFor } from '../db/open-database.ts';
import type { ApprovalRow, CallbackDeliveryRow, Database } from '../db/schema.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { conflict, notFound } from '../primitives/errors.ts';
import type { JobQueue } from '../jobs/job-queue.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { buildCallbackEvent, type ReceiptSigner } from './build-callback-event.ts';
import { isCallbackRefusal, resolveWithDns, type HostResolver } from './callback-url-policy.ts';
import { createCallbackAgents, postCallback } from './post-callback.ts';
import { DEFAULT_RETRY_SCHEDULE_MS, nextRetryDelay } from './retry-schedule.ts';
import { markStep } from './step-timings.ts';

const REQUEST_TIMEOUT_MS = 15_000;
/** A sender that died mid-attempt holds its claim this long; then the backup job takes over. */
const CLAIM_MS = REQUEST_TIMEOUT_MS + 15_000;

export interface CallbackDeliveryOptions {
  db: Kysely<Database>;
  jobs: JobQueue;
  signer: ReceiptSigner;
  audit: Pick<AuditLog, 'append'>;
  metrics: Metrics;
  logger: Logger;
  /** DNS for the connect-time check; tests answer differently at intake and delivery (rebinding). */
  resolveHost?: HostResolver;
  retryScheduleMs?: readonly number[];
  /** How long a sender holds a delivery before the backup job may take it over; CLAIM_MS unless a test shortens it. */
  claimMs?: number;
  /** false: the deciding commit does not send (the process "died" right after it), so only the backup job does (tests). */
  sendAtCommit?: boolean;
}

export type DeliveryOutcome = 'delivered' | 'retrying' | 'dead' | 'skipped';

/** A delivery this process holds the claim of, with what sending it needs. */
interface ClaimedDelivery {
  row: CallbackDeliveryRow;
  secret: string;
  allowHosts: string[];
  /** The decided approval, when the sender has it (the deciding process): its metrics need no read. */
  approval?: Pick<ApprovalRow, 'created_at' | 'decided_at' | 'project' | 'provider' | 'risk' | 'status'>;
}

interface AttemptResult {
  status: number | null;
  error: string | null;
  retryAfter: string | null;
  /** The destination policy refused the address before connecting. */
  refused: boolean;
}

/** What `GET /v1/approvals/{id}` shows of the callback. */
export function toCallbackView(row: CallbackDeliveryRow) {
  return {
    url: row.url,
    webhookId: row.webhook_id,
    status: row.status,
    attempts: row.attempts,
    lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
    lastStatus: row.last_status,
    lastError: row.last_error,
    nextAttemptAt: row.status === 'pending' ? (row.next_attempt_at?.toISOString() ?? null) : null,
    deliveredAt: row.delivered_at?.toISOString() ?? null,
  };
}

export interface CallbackDelivery {
  /** Records the callback in the deciding transaction, claimed by this process, which sends it once the transaction commits; a backup job takes over should this process die before recording the attempt. */
  schedule(trx: Transaction<Database>, approval: ApprovalRow): Promise<void>;
  /** Claims and sends now, without waiting for a queue poll (redeliver); a decision's first attempt is sent by `schedule`'s commit hook. */
  deliverSoon(approvalId: string): void;
  /** One attempt, if one is due and nobody else is sending; the job handler. */
  attempt(approvalId: string): Promise<DeliveryOutcome>;
  /** Admin: send a delivered or dead callback again, same webhook-id. */
  redeliver(approvalId: string): Promise<CallbackDeliveryRow>;
  find(approvalId: string): Promise<CallbackDeliveryRow | undefined>;
  /** Waits for sends started at commit or by deliverSoon, and closes kept-alive connections (shutdown, tests). */
  drain(): Promise<void>;
}

/**
 * Standard Webhooks callbacks, at least once: a stable `webhook-id`, a fresh
 * `webhook-timestamp` and signature per attempt, retries with jitter for about a day
 * (honouring 429/503 `Retry-After`), then dead. A 410 means the receiver is gone for good.
 * Every attempt goes through the destination policy at connect time (post-callback.ts); no
 * redirect is followed.
 */
export function createCallbackDelivery(options: CallbackDeliveryOptions): CallbackDelivery {
  const { db, jobs, signer, audit, metrics, logger } = options;
  const resolveHost = options.resolveHost ?? resolveWithDns;
  const schedule = options.retryScheduleMs ?? DEFAULT_RETRY_SCHEDULE_MS;
  const claimMs = options.claimMs ?? CLAIM_MS;
  const sendAtCommit = options.sendAtCommit ?? true;
  const inFlight = new Set<Promise<unknown>>();
  const agents = createCallbackAgents();

  const track = (running: Promise<unknown>, approvalId: string) => {
    const settled = running.catch((error: unknown) => logger.error({ err: error, approvalId }, 'callback attempt failed to run; the queued job will retry'));
    inFlight.add(settled);
    void settled.finally(() => inFlight.delete(settled));
  };

  async function claim(approvalId: string): Promise<CallbackDeliveryRow | undefined> {
    return db
      .updateTable('callback_deliveries')
      .set({ claimed_until: sql<Date>`now() + ${`${claimMs} milliseconds`}::interval` })
      .where('approval_id', '=', approvalId)
      .where('status', '=', 'pending')
      .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', sql<Date>`now()`)]))
      .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', sql<Date>`now()`)]))
      .returningAll()
      .executeTakeFirst();
  }

  async function post(row: CallbackDeliveryRow, secret: string, allowHosts: string[]): Promise<AttemptResult> {
    try {
      const timestamp = new Date();
      const signature = new Webhook(secret).sign(row.webhook_id, timestamp, row.body);
      markStep(row.approval_id, 'webhook.signed');
      const response = await postCallback({
        url: row.url,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Countersign-Webhooks/1',
          'webhook-id': row.webhook_id,
          'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
          'webhook-signature': signature,
        },
        body: row.body,
        allowHosts,
        resolveHost,
        timeoutMs: REQUEST_TIMEOUT_MS,
        agents: agents.forKey(row.api_key_id, allowHosts),
      });
      const { status } = response;
      markStep(row.approval_id, 'response.received');
      const ok = status >= 200 && status < 300;
      const error = ok ? null : status >= 300 && status < 400 ? `receiver answered ${status}; redirects are not followed` : `receiver answered ${status}`;
      return { status, error, retryAfter: response.retryAfter, refused: false };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { status: null, error: message.slice(0, 500), retryAfter: null, refused: isCallbackRefusal(error) };
    }
  }

  /**
   * The job's (and redeliver's) attempt: claims the delivery if one is due and nobody holds it.
   * A delivery that is pending but claimed is another sender's, which may die before recording
   * anything: this job then comes back when that claim runs out, so no claim outlives every job.
   */
  async function attempt(approvalId: string): Promise<DeliveryOutcome> {
    markStep(approvalId, 'attempt.started');
    const row = await claim(approvalId);
    if (!row) {
      const held = await db.selectFrom('callback_deliveries').select('claimed_until').where('approval_id', '=', approvalId).where('status', '=', 'pending').where('claimed_until', '>=', sql<Date>`now()`).executeTakeFirst();
      if (held?.claimed_until) await jobs.send(executorFor(db), 'callback-deliver', { approvalId }, { startAfter: held.claimed_until });
      return 'skipped';
    }
    markStep(approvalId, 'attempt.claimed');
    const key = await db.selectFrom('api_keys').select(['webhook_secret', 'callback_hosts']).where('id', '=', row.api_key_id).executeTakeFirstOrThrow();
    markStep(approvalId, 'key.read');
    return send({ row, secret: key.webhook_secret, allowHosts: key.callback_hosts });
  }

  /** Posts a delivery this process holds the claim of, and records the attempt (and the retry, or the end, it leads to). */
  async function send({ row, secret, allowHosts, approval: known }: ClaimedDelivery): Promise<DeliveryOutcome> {
    const approvalId = row.approval_id;
    const result = await post(row, secret, allowHosts);
    const attempts = row.attempts + 1;
    const ok = result.status !== null && result.status >= 200 && result.status < 300;
    const gone = result.status === 410;
    // A refused destination goes dead at once rather than retrying for a day: its host was
    // public at intake, so a private answer now is rebinding or a misconfiguration that
    // someone must look at, and the dead-callback alert says so today; redeliver checks again.
    const delay = ok || gone || result.refused ? undefined : nextRetryDelay(attempts, schedule, result.retryAfter);
    const status = ok ? 'delivered' : delay === undefined ? 'dead' : 'pending';

    const updated = await db.transaction().execute(async (trx) => {
      const next = delay === undefined ? null : new Date(Date.now() + delay);
      const saved = await trx
        .updateTable('callback_deliveries')
        .set({
          status,
          attempts,
          claimed_until: null,
          last_attempt_at: new Date(),
          last_status: result.status,
          last_error: result.error,
          next_attempt_at: next,
          ...(ok ? { delivered_at: new Date() } : {}),
        })
        .where('approval_id', '=', approvalId)
        .returningAll()
        .executeTakeFirstOrThrow();
      if (next) await jobs.send(executorFor(trx), 'callback-deliver', { approvalId }, { startAfter: next });
      else {
        await audit.append(trx, {
          event: ok ? 'callback.delivered' : 'callback.dead',
          approvalId,
          actor: { kind: 'system', id: 'callbacks', via: 'http' },
          data: { webhookId: row.webhook_id, host: new URL(row.url).host, attempts, lastStatus: result.status, lastError: result.error },
        });
      }
      return saved;
    });

    markStep(approvalId, 'attempt.recorded');
    const log = logger.child({ approvalId, webhookId: row.webhook_id, attempts });
    const approval = known ?? (await db.selectFrom('approvals').select(['created_at', 'decided_at', 'project', 'provider', 'risk', 'status']).where('id', '=', approvalId).executeTakeFirstOrThrow());
    if (ok) {
      metrics.observeCallbackDelivered(approval, updated.delivered_at ?? new Date());
      markStep(approvalId, 'attempt.finished');
      return 'delivered';
    }
    if (status === 'dead') {
      log.warn({ lastStatus: result.status, lastError: result.error }, 'callback is dead: retries used up, receiver gone (410), or destination refused');
      metrics.observeCallbackDead(approval.project);
      return 'dead';
    }
    log.info({ lastStatus: result.status, lastError: result.error, nextAttemptAt: updated.next_attempt_at }, 'callback attempt failed; will retry');
    return 'retrying';
  }

  return {
    async schedule(trx, approval) {
      if (!approval.callback_url) return;
      markStep(approval.id, 'schedule.started');
      const event = buildCallbackEvent(approval, signer);
      // Inserted already claimed by this process, with the key's secret and hosts read by the
      // same statement: once the decision commits, the first attempt is one POST away, with no
      // claim or key read queued behind the jobs the commit wakes. The backup job is due the
      // moment that claim runs out (both are the database's clock), so a crash between commit
      // and POST is one delivery late, never none.
      const insert = trx
        .insertInto('callback_deliveries')
        .values({
          approval_id: approval.id,
          webhook_id: `msg_${ulid().toLowerCase()}`,
          url: approval.callback_url,
          api_key_id: approval.api_key_id,
          body: JSON.stringify(event),
          status: 'pending',
          claimed_until: sql<Date>`now() + ${`${claimMs} milliseconds`}::interval`,
        })
        .returningAll()
        .returning((eb) => [
          eb.selectFrom('api_keys').select('webhook_secret').where('id', '=', approval.api_key_id).as('webhook_secret'),
          eb.selectFrom('api_keys').select('callback_hosts').where('id', '=', approval.api_key_id).as('callback_hosts'),
        ])
        .compile();
      const claimed: { delivery?: ClaimedDelivery } = {};
      // Runs after COMMIT (never on rollback), by which time the insert below has answered.
      onCommit(insert, () => {
        markStep(approval.id, 'committed.sending');
        if (claimed.delivery && sendAtCommit) track(send(claimed.delivery), approval.id);
      });
      const { webhook_secret, callback_hosts, ...row } = (await trx.executeQuery(insert)).rows[0]!;
      // A key deleted since intake has no secret to sign with: the job's attempt says so and retries.
      if (webhook_secret !== null && callback_hosts !== null) claimed.delivery = { row, secret: webhook_secret, allowHosts: callback_hosts, approval };
      await jobs.send(executorFor(trx), 'callback-deliver', { approvalId: approval.id }, { startAfter: row.claimed_until! });
      markStep(approval.id, 'schedule.done');
    },
    deliverSoon(approvalId) {
      track(attempt(approvalId), approvalId);
    },
    attempt,
    async redeliver(approvalId) {
      return db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('callback_deliveries').selectAll().where('approval_id', '=', approvalId).forUpdate().executeTakeFirst();
        if (!row) {
          const approval = await trx.selectFrom('approvals').select(['status', 'callback_url']).where('id', '=', approvalId).executeTakeFirst();
          if (!approval) throw notFound(`no approval ${approvalId}`);
          throw conflict('no_callback', approval.callback_url ? `approval ${approvalId} is ${approval.status}; there is no decision to send yet` : `approval ${approvalId} has no callbackUrl`);
        }
        const reset = await trx
          .updateTable('callback_deliveries')
          .set({ status: 'pending', next_attempt_at: null, claimed_until: null })
          .where('approval_id', '=', approvalId)
          .returningAll()
          .executeTakeFirstOrThrow();
        await jobs.send(executorFor(trx), 'callback-deliver', { approvalId });
        return reset;
      });
    },
    find: (approvalId) => db.selectFrom('callback_deliveries').selectAll().where('approval_id', '=', approvalId).executeTakeFirst(),
    async drain() {
      await Promise.allSettled([...inFlight]);
      agents.close();
    },
  };
}
