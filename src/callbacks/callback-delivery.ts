import { Webhook } from 'standardwebhooks';
import type { Kysely, QueryCreator, Transaction, UpdateQueryBuilder } from 'kysely';
import type { Logger } from 'pino';
import { ulid } from 'ulid';
import { onCommit } from '../db/commit-hooks.ts';
import type { ApprovalRow, CallbackDeliveryRow, Database } from '../db/schema.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { conflict, notFound } from '../primitives/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { anyDeliveryDue, claimDelivery, claimDueDeliveries, claimExpiry, sendingKeyColumns } from './claim-deliveries.ts';
import { buildCallbackEvent, type ReceiptSigner } from './build-callback-event.ts';
import { isCallbackRefusal, resolveWithDns, type HostResolver } from './callback-url-policy.ts';
import { createCallbackAgents, postCallback } from './post-callback.ts';
import { DEFAULT_RETRY_SCHEDULE_MS, nextRetryDelay } from './retry-schedule.ts';
import { recordAttempt } from './record-attempt.ts';
import { markStep } from './step-timings.ts';

const REQUEST_TIMEOUT_MS = 15_000;
/** A sender that died mid-attempt holds its claim this long; then the sweep takes the delivery over. */
const CLAIM_MS = REQUEST_TIMEOUT_MS + 15_000;
/**
 * How often each instance looks for deliveries that are due and unclaimed. Retries are due
 * 5 s … 8 h apart with ±20 % jitter, and a sender that died is noticed once its 30 s claim
 * lapses, so a few seconds' lateness is lost in both; idle, a look is one query on an empty
 * partial index (migration 0024).
 */
const SWEEP_INTERVAL_MS = 2_000;
/** Sends the sweep keeps in flight at most (a backlog due at once, a receiver that hangs): it claims no more than fit. */
const MAX_SWEEP_SENDS = 32;

export interface CallbackDeliveryOptions {
  db: Kysely<Database>;
  signer: ReceiptSigner;
  audit: Pick<AuditLog, 'appendWith' | 'appendWithAlone'>;
  metrics: Metrics;
  logger: Logger;
  /** DNS for the connect-time check; tests answer differently at intake and delivery (rebinding). */
  resolveHost?: HostResolver;
  retryScheduleMs?: readonly number[];
  /** How long a sender holds a delivery before the sweep may take it over; CLAIM_MS unless a test shortens it. */
  claimMs?: number;
  /** How often the sweep looks for due deliveries; SWEEP_INTERVAL_MS unless a test shortens it. */
  sweepIntervalMs?: number;
  /** false: the deciding commit does not send (the process "died" right after it), so only the sweep does (tests). */
  sendAtCommit?: boolean;
}

/**
 * A deciding UPDATE of one approval, not yet run, returning the long polls' notification (and
 * nothing of the row: its caller knows what the update leaves, and 30 columns parsed back cost
 * PGlite a fifth of the statement).
 */
export type DecidingStatement = (db: QueryCreator<Database>) => UpdateQueryBuilder<Database, 'approvals', 'approvals', { notified: string }>;

export type DeliveryOutcome = 'delivered' | 'retrying' | 'dead' | 'skipped';

/** What sending a delivery reads of its row. */
type SendableDelivery = Pick<CallbackDeliveryRow, 'approval_id' | 'webhook_id' | 'url' | 'api_key_id' | 'body' | 'attempts'>;

/** A delivery this process holds the claim of, with what sending it needs. */
interface ClaimedDelivery {
  row: SendableDelivery;
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
  /**
   * Runs `statement`, the ONE statement that decides the approval (its UPDATE, on `db`), and
   * records the callback with it: the delivery is inserted by that same statement, claimed by
   * this process, which sends it once `trx` commits; the sweep takes over should this process
   * die before recording the attempt. `decided` is the approval as the statement leaves it
   * (the callback is built from it). Throws when the statement updated no row.
   */
  scheduleWith(trx: Transaction<Database>, decided: ApprovalRow, db: QueryCreator<Database>, statement: DecidingStatement): Promise<void>;
  /** Claims and sends now, without waiting for the sweep (redeliver); a decision's first attempt is sent by `scheduleWith`'s commit hook. */
  deliverSoon(approvalId: string): void;
  /** One attempt, if one is due and nobody else is sending (a `callback-deliver` job queued before the sweep). */
  attempt(approvalId: string): Promise<DeliveryOutcome>;
  /** Starts sending, every few seconds, what is due and unclaimed: retries, redeliveries, and first attempts whose sender died (the server; the CLI only schedules). */
  startSweep(): void;
  /** Admin: send a delivered or dead callback again, same webhook-id. */
  redeliver(approvalId: string): Promise<CallbackDeliveryRow>;
  find(approvalId: string): Promise<CallbackDeliveryRow | undefined>;
  /** Stops the sweep, waits for the sends under way, and closes kept-alive connections (shutdown, tests). */
  drain(): Promise<void>;
}

/**
 * Standard Webhooks callbacks, at least once: a stable `webhook-id`, a fresh
 * `webhook-timestamp` and signature per attempt, retries with jitter for about a day
 * (honouring 429/503 `Retry-After`), then dead. A 410 means the receiver is gone for good.
 * Every attempt goes through the destination policy at connect time (post-callback.ts); no
 * redirect is followed.
 *
 * The delivery row is the whole of the state: the deciding process sends the first attempt
 * from its commit, and every instance's sweep sends whatever is due and unclaimed (a retry's
 * `next_attempt_at`, a redelivery, a claim whose sender died), so no job is queued per
 * callback or per attempt.
 */
export function createCallbackDelivery(options: CallbackDeliveryOptions): CallbackDelivery {
  const { db, signer, audit, metrics, logger } = options;
  const resolveHost = options.resolveHost ?? resolveWithDns;
  const schedule = options.retryScheduleMs ?? DEFAULT_RETRY_SCHEDULE_MS;
  const claimMs = options.claimMs ?? CLAIM_MS;
  const sweepIntervalMs = options.sweepIntervalMs ?? SWEEP_INTERVAL_MS;
  const sendAtCommit = options.sendAtCommit ?? true;
  const inFlight = new Set<Promise<unknown>>();
  const agents = createCallbackAgents();
  const sweep: { timer?: NodeJS.Timeout; running?: Promise<void>; stopped: boolean } = { stopped: true };

  const track = (running: Promise<unknown>, approvalId: string) => {
    const settled = running.catch((error: unknown) => logger.error({ err: error, approvalId }, 'callback attempt failed to run; the sweep sends it again once its claim lapses'));
    inFlight.add(settled);
    void settled.finally(() => inFlight.delete(settled));
  };

  /** A claimed row with its key's secret and hosts, ready to send; undefined (and the claim left to lapse) when the key is gone. */
  const readyToSend = ({ row, secret, allowHosts }: { row: SendableDelivery; secret: string | null; allowHosts: string[] | null }): ClaimedDelivery | undefined => {
    if (secret !== null && allowHosts !== null) return { row, secret, allowHosts };
    logger.error({ approvalId: row.approval_id, webhookId: row.webhook_id }, 'callback not sent: its API key has no webhook secret; tried again when the claim lapses');
    return undefined;
  };

  async function post(row: SendableDelivery, secret: string, allowHosts: string[]): Promise<AttemptResult> {
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
   * Redeliver's (and an old job's) attempt: claims the delivery if one is due and nobody holds
   * it. A delivery that is pending but claimed is another sender's, which may die before
   * recording anything: the sweep takes it once that claim lapses, so no claim strands it.
   */
  async function attempt(approvalId: string): Promise<DeliveryOutcome> {
    markStep(approvalId, 'attempt.started');
    const claimed = await claimDelivery(db, approvalId, claimMs);
    const delivery = claimed && readyToSend(claimed);
    if (!delivery) return 'skipped';
    markStep(approvalId, 'attempt.claimed');
    return send(delivery);
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
    const updated = await recordAttempt(db, audit, row, { status, attempts, lastStatus: result.status, lastError: result.error, nextAttemptAt: delay === undefined ? null : new Date(Date.now() + delay) });

    markStep(approvalId, 'attempt.recorded');
    const log = logger.child({ approvalId, webhookId: row.webhook_id, attempts });
    if (status === 'pending') {
      log.info({ lastStatus: result.status, lastError: result.error, nextAttemptAt: updated.next_attempt_at }, 'callback attempt failed; will retry');
      return 'retrying';
    }
    const approval = known ?? (await db.selectFrom('approvals').select(['created_at', 'decided_at', 'project', 'provider', 'risk', 'status']).where('id', '=', approvalId).executeTakeFirstOrThrow());
    if (ok) {
      metrics.observeCallbackDelivered(approval, updated.delivered_at ?? new Date());
      markStep(approvalId, 'attempt.finished');
      return 'delivered';
    }
    log.warn({ lastStatus: result.status, lastError: result.error }, 'callback is dead: retries used up, receiver gone (410), or destination refused');
    metrics.observeCallbackDead(approval.project);
    return 'dead';
  }

  /** One look for due, unclaimed deliveries; each one claimed is sent at once, alongside the others. */
  async function sweepOnce(): Promise<void> {
    const room = MAX_SWEEP_SENDS - inFlight.size;
    if (room <= 0 || !(await anyDeliveryDue(db))) return;
    for (const claimed of await claimDueDeliveries(db, room, claimMs)) {
      const delivery = readyToSend(claimed);
      if (delivery) track(send(delivery), delivery.row.approval_id);
    }
  }

  const sweepLater = () => {
    if (sweep.stopped) return;
    sweep.timer = setTimeout(() => {
      sweep.running = sweepOnce()
        .catch((error: unknown) => logger.error({ err: error }, 'the callback sweep failed; it looks again at its next interval'))
        .finally(() => {
          sweep.running = undefined;
          sweepLater();
        });
    }, sweepIntervalMs);
    // A timer alone keeps no process alive: the server's listener does, and drain() stops it.
    sweep.timer.unref();
  };

  return {
    async scheduleWith(trx, decided, db, statement) {
      if (!decided.callback_url) {
        await statement(db).executeTakeFirstOrThrow();
        return;
      }
      markStep(decided.id, 'schedule.started');
      const values = {
        approval_id: decided.id,
        webhook_id: `msg_${ulid().toLowerCase()}`,
        url: decided.callback_url,
        api_key_id: decided.api_key_id,
        body: JSON.stringify(buildCallbackEvent(decided, signer)),
      };
      // Inserted already claimed by this process by the decision's own statement, which also
      // reads the key's secret and hosts: once the decision commits, the first attempt is one
      // POST away, with no round trip of its own before the commit and no claim or key read
      // queued behind the jobs the commit wakes. Should this process die before recording the
      // attempt, the claim lapses and a sweep (any instance's) sends it: one delivery late,
      // never none, and with no job to queue here.
      const withDelivery = db.with('callback_delivery', (q) => q.insertInto('callback_deliveries').values({ ...values, status: 'pending', claimed_until: claimExpiry(claimMs) }));
      const query = statement(withDelivery as unknown as QueryCreator<Database>)
        .returning(sendingKeyColumns('approvals.api_key_id'))
        .compile();
      const claimed: { delivery?: ClaimedDelivery } = {};
      // Runs after COMMIT (never on rollback), by which time the statement below has answered.
      onCommit(query, () => {
        markStep(decided.id, 'committed.sending');
        if (claimed.delivery && sendAtCommit) track(send(claimed.delivery), decided.id);
      });
      const [answered] = (await trx.executeQuery(query)).rows;
      if (!answered) throw new Error(`approval ${decided.id} was no longer pending when its decision was written`);
      const ready = readyToSend({ row: { ...values, attempts: 0 }, secret: answered.webhook_secret, allowHosts: answered.callback_hosts });
      if (ready) claimed.delivery = { ...ready, approval: decided };
      markStep(decided.id, 'schedule.done');
    },
    deliverSoon(approvalId) {
      track(attempt(approvalId), approvalId);
    },
    attempt,
    startSweep() {
      if (!sweep.stopped) return;
      sweep.stopped = false;
      sweepLater();
    },
    async redeliver(approvalId) {
      // Due now and unclaimed: `deliverSoon` sends it, or, should this process die first, the sweep.
      const reset = await db
        .updateTable('callback_deliveries')
        .set({ status: 'pending', next_attempt_at: null, claimed_until: null })
        .where('approval_id', '=', approvalId)
        .returningAll()
        .executeTakeFirst();
      if (reset) return reset;
      const approval = await db.selectFrom('approvals').select(['status', 'callback_url']).where('id', '=', approvalId).executeTakeFirst();
      if (!approval) throw notFound(`no approval ${approvalId}`);
      throw conflict('no_callback', approval.callback_url ? `approval ${approvalId} is ${approval.status}; there is no decision to send yet` : `approval ${approvalId} has no callbackUrl`);
    },
    find: (approvalId) => db.selectFrom('callback_deliveries').selectAll().where('approval_id', '=', approvalId).executeTakeFirst(),
    async drain() {
      sweep.stopped = true;
      clearTimeout(sweep.timer);
      await sweep.running;
      await Promise.allSettled([...inFlight]);
      agents.close();
    },
  };
}
