import { Webhook } from 'standardwebhooks';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import { ulid } from 'ulid';
import { executorFor } from '../db/open-database.ts';
import type { ApprovalRow, CallbackDeliveryRow, Database } from '../db/schema.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { conflict, notFound } from '../primitives/errors.ts';
import type { JobQueue } from '../jobs/job-queue.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { buildCallbackEvent, type ReceiptSigner } from './build-callback-event.ts';
import { isCallbackRefusal, resolveWithDns, type HostResolver } from './callback-url-policy.ts';
import { postCallback } from './post-callback.ts';
import { DEFAULT_RETRY_SCHEDULE_MS, nextRetryDelay } from './retry-schedule.ts';

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
}

/** `claimed`: pending, but another sender holds it (and may have died holding it): try again once the claim lapses. */
export type DeliveryOutcome = 'delivered' | 'retrying' | 'dead' | 'skipped' | 'claimed';

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
  /** Records the callback in the deciding transaction, with a backup job should this process die before sending. */
  schedule(trx: Transaction<Database>, approval: ApprovalRow): Promise<void>;
  /** Sends right after the decision commits, without waiting for a queue poll. */
  deliverSoon(approvalId: string): void;
  /** One attempt, if one is due and nobody else is sending (`claimed`: someone is, or died doing so); the job handler. */
  attempt(approvalId: string): Promise<DeliveryOutcome>;
  /** Admin: send a delivered or dead callback again, same webhook-id. */
  redeliver(approvalId: string): Promise<CallbackDeliveryRow>;
  find(approvalId: string): Promise<CallbackDeliveryRow | undefined>;
  /** Waits for sends started by deliverSoon (shutdown, tests). */
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
  const inFlight = new Set<Promise<unknown>>();

  async function claim(approvalId: string): Promise<CallbackDeliveryRow | undefined> {
    return db
      .updateTable('callback_deliveries')
      .set({ claimed_until: sql<Date>`now() + ${`${CLAIM_MS} milliseconds`}::interval` })
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
      });
      const { status } = response;
      const ok = status >= 200 && status < 300;
      const error = ok ? null : status >= 300 && status < 400 ? `receiver answered ${status}; redirects are not followed` : `receiver answered ${status}`;
      return { status, error, retryAfter: response.retryAfter, refused: false };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return { status: null, error: message.slice(0, 500), retryAfter: null, refused: isCallbackRefusal(error) };
    }
  }

  async function attempt(approvalId: string): Promise<DeliveryOutcome> {
    const row = await claim(approvalId);
    if (!row) {
      // The backup job of a sender that died mid-attempt can run a moment before that sender's
      // claim lapses: skipping it then left the callback pending with nothing to send it (the
      // soak, issue 19: a killed instance's callbacks never sent).
      const held = await db.selectFrom('callback_deliveries').select('approval_id').where('approval_id', '=', approvalId).where('status', '=', 'pending').where('claimed_until', '>=', sql<Date>`now()`).executeTakeFirst();
      return held ? 'claimed' : 'skipped';
    }
    const key = await db.selectFrom('api_keys').select(['webhook_secret', 'callback_hosts']).where('id', '=', row.api_key_id).executeTakeFirstOrThrow();
    const result = await post(row, key.webhook_secret, key.callback_hosts);
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

    const log = logger.child({ approvalId, webhookId: row.webhook_id, attempts });
    const approval = await db.selectFrom('approvals').select(['created_at', 'decided_at', 'project', 'provider', 'risk', 'status']).where('id', '=', approvalId).executeTakeFirstOrThrow();
    if (ok) {
      metrics.observeCallbackDelivered(approval, updated.delivered_at ?? new Date());
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
      const event = buildCallbackEvent(approval, signer);
      await trx
        .insertInto('callback_deliveries')
        .values({ approval_id: approval.id, webhook_id: `msg_${ulid().toLowerCase()}`, url: approval.callback_url, api_key_id: approval.api_key_id, body: JSON.stringify(event), status: 'pending' })
        .execute();
      await jobs.send(executorFor(trx), 'callback-deliver', { approvalId: approval.id }, { startAfter: new Date(Date.now() + CLAIM_MS) });
    },
    deliverSoon(approvalId) {
      const running = attempt(approvalId).catch((error: unknown) => logger.error({ err: error, approvalId }, 'callback attempt failed to run; the queued job will retry'));
      inFlight.add(running);
      void running.finally(() => inFlight.delete(running));
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
    },
  };
}
