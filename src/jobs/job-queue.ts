import { sql, type RawBuilder } from 'kysely';
import { PgBoss, type Job, type Queue } from 'pg-boss';
import type { Logger } from 'pino';
import type { AppDatabase, SqlExecutor } from '../db/open-database.ts';
import { movePgBoss10Jobs, setAsidePgBoss10 } from './pg-boss-10-upgrade.ts';

/** Every durable job the service runs, with the data each carries. */
export interface JobData {
  'ticket-create': { approvalId: string };
  'ticket-update':
    | { approvalId: string; update: 'decided' | 'cancelled' | 'edited' }
    | { approvalId: string; update: 'refused'; actor: string; reason: string; revert?: string }
    | { approvalId: string; update: 'escalated'; tier: number; reviewers: string[]; by?: string };
  /** Fires when an escalation tier's `after` has passed since the request. */
  'escalation-timer': { approvalId: string; tier: number };
  /** Daily, when COUNTERSIGN_AUDIT_RETENTION is set: prunes the audit log's old end. */
  'audit-prune': Record<string, never>;
  /** Fires when a batch's window has passed or it reached maxItems: the batch becomes one ticket. */
  'batch-close': { batchId: string };
  'callback-deliver': { approvalId: string };
  /** Periodic: reads pending tickets from providers with webhooks and applies missed decisions. */
  'ticket-reconcile': Record<string, never>;
  /** One audit witness (AUDIT_WITNESS spec) keeps the signed checkpoint of `treeSize`. */
  'witness-publish': { witness: string; treeSize: number };
  /** Weekly (the mapping's `review.schedule`): builds last week's review and posts it. */
  'review-weekly': Record<string, never>;
  /** Shows a change of an approval in one notification channel (src/channels/channel-notices.ts). */
  'channel-notice': { approvalId: string; channel: string; kind: 'needs-review' | 'counted' | 'decided' | 'cancelled'; tier?: number; by?: string };
  /** A verified Slack request, stored before it was answered (src/providers/slack/slack-deliveries.ts): its raw body, parsed again by the job. */
  'slack-delivery': { endpoint: 'interactions' | 'events'; body: string };
  /** A web inbox sign-in link to email (the token is made when the job runs: no raw token in the job table). */
  'sign-in-email': { person: string };
}
export type QueueName = keyof JobData;

/**
 * Provider calls are retried with backoff for about a day (pg-boss doubles the delay
 * from 2 s: 2 s … ~9 h over 15 tries), never dropped on a transient failure.
 */
/**
 * Jobs that run for long (provider calls, callbacks, timers) prove they are alive every few
 * seconds: on a shared PostgreSQL the job of an instance that was killed is then retried once
 * its heartbeat is this stale (plus one monitor pass), instead of after its whole
 * `expireInSeconds` (found by the soak, issue 19: 2.5 min of a killed instance's tickets and
 * callbacks waiting). pg-boss's minimum is 10 s; a live worker refreshes it every 5 s.
 */
const HEARTBEAT_SECONDS = 10;

/**
 * How long a live ticket job may run before pg-boss fails it and runs it again. A dead instance's
 * job is found by its heartbeat, not by this; a live one may wait its turn in GitHub's pacing
 * (one issue or comment per 3 s per process, plugin-throttling) behind the others in flight, and
 * failing it then only starts a second run beside the first. Each provider request has its own
 * deadline (PROVIDER_REQUEST_TIMEOUT_MS, src/providers/provider-failure.ts), so a hung call fails long before this.
 */
const TICKET_JOB_EXPIRE_SECONDS = 600;

const QUEUES: Record<QueueName, Queue> = {
  'ticket-create': { name: 'ticket-create', retryLimit: 15, retryDelay: 2, retryBackoff: true, expireInSeconds: TICKET_JOB_EXPIRE_SECONDS, heartbeatSeconds: HEARTBEAT_SECONDS },
  'ticket-update': { name: 'ticket-update', retryLimit: 15, retryDelay: 2, retryBackoff: true, expireInSeconds: TICKET_JOB_EXPIRE_SECONDS, heartbeatSeconds: HEARTBEAT_SECONDS },
  // Callback retries follow their own schedule (src/callbacks/retry-schedule.ts); a job
  // retry here only covers a crash of the attempt's own bookkeeping.
  'callback-deliver': { name: 'callback-deliver', retryLimit: 5, retryDelay: 5, retryBackoff: true, expireInSeconds: 120, heartbeatSeconds: HEARTBEAT_SECONDS },
  'escalation-timer': { name: 'escalation-timer', retryLimit: 10, retryDelay: 1, retryBackoff: true, expireInSeconds: 60, heartbeatSeconds: HEARTBEAT_SECONDS },
  'audit-prune': { name: 'audit-prune', policy: 'singleton', retryLimit: 3, retryDelay: 600, expireInSeconds: 3600 },
  'batch-close': { name: 'batch-close', retryLimit: 15, retryDelay: 2, retryBackoff: true, expireInSeconds: 120, heartbeatSeconds: HEARTBEAT_SECONDS },
  // Like provider calls: a channel's API down for hours loses no notice.
  'channel-notice': { name: 'channel-notice', retryLimit: 15, retryDelay: 2, retryBackoff: true, expireInSeconds: 120, heartbeatSeconds: HEARTBEAT_SECONDS },
  // The next scheduled run is the retry; one run at a time (singleton policy).
  'ticket-reconcile': { name: 'ticket-reconcile', policy: 'singleton', retryLimit: 0, expireInSeconds: 300 },
  'slack-delivery': { name: 'slack-delivery', retryLimit: 15, retryDelay: 2, retryBackoff: true, expireInSeconds: 120, heartbeatSeconds: HEARTBEAT_SECONDS },
  // A sign-in link is wanted now: a few quick retries, then the person asks again.
  'sign-in-email': { name: 'sign-in-email', retryLimit: 3, retryDelay: 5, retryBackoff: true, expireInSeconds: 60, heartbeatSeconds: HEARTBEAT_SECONDS },
  // One queued or running publish per witness and checkpoint (instances send the same one); a
  // witness that is down is retried for about a day, and publishing again changes nothing.
  'witness-publish': { name: 'witness-publish', policy: 'exclusive', retryLimit: 15, retryDelay: 2, retryBackoff: true, expireInSeconds: 120, heartbeatSeconds: HEARTBEAT_SECONDS },
  // pg-boss's schedule sends one job per occurrence across instances; the review's own claim
  // (review-posts table) keeps a retry or a second run of the same week from posting again.
  'review-weekly': { name: 'review-weekly', policy: 'singleton', retryLimit: 3, retryDelay: 600, expireInSeconds: 900 },
};

/**
 * Each queue runs in a few slots, each a pg-boss worker fetching a few jobs. pg-boss holds a
 * worker until every job of its fetch has returned: with one worker fetching 20, one slow call
 * (GitHub's 3 s pacing of issue writes, a provider that hangs) held 19 finished jobs' places, and
 * every job due behind them waited for it (issue 19: the soak's approvals whose ticket jobs sat
 * due and unrun for minutes). Now a slow job holds only its own slot's few; the other slots go on.
 */
const SLOTS_PER_QUEUE = 8;
/** Jobs taken per fetch by one slot: a full fetch means more are due, and wakes another slot. */
const JOBS_PER_FETCH = 2;
/**
 * Slots do not poll on their own (eight per queue would multiply an idle server's polling by
 * eight): one timer per queue wakes one idle slot every polling interval. pg-boss's own polling
 * of each slot is only a backstop.
 */
const SLOT_BACKSTOP_POLLING_SECONDS = 3600;

/** `attempt` is 1 on a job's first run and counts up on every retry, including after a crash mid-run. */
export type JobHandler<Q extends QueueName> = (data: JobData[Q], meta: { jobId: string; queue: Q; attempt: number }) => Promise<void>;

/** Called after a failed run was handed back to pg-boss: `retryAt` is when it runs again, null when it will not. */
export type JobFailureHandler<Q extends QueueName> = (data: JobData[Q], failure: { error: unknown; attempt: number; retryAt: Date | null }) => Promise<void>;

/**
 * How often pg-boss's supervisor (one instance at a time) fails jobs whose heartbeat went stale
 * or whose run outlived their `expireInSeconds`: on PostgreSQL that is how a job of an instance
 * that died is retried, at the latest heartbeat + this after the crash. pg-boss 12 does it in its queue monitor pass, which
 * runs at the longer of the supervise and monitor intervals (60 s each by default).
 */
const SUPERVISE_INTERVAL_SECONDS = 30;
/** On a shared PostgreSQL: a missed heartbeat is noticed within this (one cheap query per pass, by one instance at a time). */
const POSTGRES_SUPERVISE_INTERVAL_SECONDS = 10;

/**
 * pg-boss 12's other background loops, set for a service that uses neither flows nor pg-boss's
 * instance registry: flows are polled every 5 s and each instance writes a heartbeat row every
 * 30 s by default, wake-ups an idle embedded server would pay for nothing.
 */
const BACKGROUND_OPTIONS = {
  registerInstance: false,
  flowIntervalSeconds: 3600,
} as const;

/**
 * Jobs a dead process left `active`. pg-boss has no call that lists jobs by state, so this reads
 * its documented job table; failing them is pg-boss's own `fail` (retry while retries are left),
 * and `update` makes each retry due now rather than after the retry delay: the job did not fail,
 * its process died, and a worker's first fetch should find it. Only for a database this process
 * alone uses (the embedded one, under the data directory's lock): on a shared PostgreSQL an
 * active job may be another instance's, still running, and expiry (`expireInSeconds`) retries
 * the dead ones.
 */
const ACTIVE_JOBS = `SELECT name, id FROM pgboss.job WHERE state = 'active'`;
const RECOVERED_OUTPUT = { message: 'the process running this job stopped (crash or kill); retried at the next start' };

/**
 * How often an idle worker looks for jobs. A job sent by this process wakes its worker at
 * commit (or when due), so polling only finds the rest: retries pg-boss schedules itself, jobs
 * sent by a process without workers (the CLI), and timers of a process that restarted. Seven
 * queues polling every 0.5 s cost an idle embedded server 5 % of a core (bench/idle.bench.ts).
 */
const IDLE_POLLING_SECONDS = 60;
/**
 * On PostgreSQL, with several instances, the job a dead instance left behind, and every retry
 * pg-boss schedules, wakes no worker: only polling finds it. A poll there is one indexed query
 * per queue on a database server, not work in this process as with the embedded database.
 */
const POSTGRES_POLLING_SECONDS = 10;

/** Jobs due within this long get an in-process wake-up timer; later ones are found by polling. */
const MAX_WAKE_TIMER_MS = 60 * 60 * 1000;

/**
 * A timer may fire a moment before the database's clock says the job is due (Node's timers run
 * on a monotonic clock, `startAfter` on the wall clock): a wake that early finds nothing and the
 * job would wait for the next poll.
 */
const DUE_MARGIN_MS = 25;

/** One pg-boss worker of a queue: `busy` while it runs the jobs it fetched. */
interface Slot {
  id?: string;
  busy: boolean;
}

export interface JobQueue {
  /** Installs or upgrades pg-boss's schema and makes the queues; `workers: false` for the CLI. */
  start(options: { workers: boolean }): Promise<void>;
  /** Enqueues inside the caller's transaction (pass its executor), so the job commits with the row. */
  send<Q extends QueueName>(executor: SqlExecutor, queue: Q, data: JobData[Q], options?: { startAfter?: Date; singletonKey?: string }): Promise<void>;
  /**
   * The insert pg-boss's `send` would run for this job, as SQL for the caller to put in its own
   * statement (a data-modifying CTE), so the job commits with that statement's row in one round
   * trip (intake). `startAfterSeconds` counts from the statement's `now()`. Call `committed()`
   * once the statement has committed: it wakes the workers as `send` does.
   */
  jobInsert<Q extends QueueName>(queue: Q, data: JobData[Q], options?: { startAfterSeconds?: number }): Promise<JobInsert>;
  work<Q extends QueueName>(queue: Q, handler: JobHandler<Q>, options?: { onFailure?: JobFailureHandler<Q> }): Promise<void>;
  /** Runs the queue's job on a cron schedule (pg-boss keeps one schedule across instances). */
  schedule(queue: QueueName, cron: string, tz?: string): Promise<void>;
  unschedule(queue: QueueName): Promise<void>;
  /** Lets running jobs finish (up to `timeoutMs`) and stops polling. */
  stop(timeoutMs?: number): Promise<void>;
  readonly ready: boolean;
}

export interface JobInsert {
  readonly statement: RawBuilder<unknown>;
  committed(): void;
}

/**
 * Runs pg-boss's own `send` against an executor that only records the statement, so the job row
 * is written with every column pg-boss's send fills (the queue's policy, retry and expiry
 * settings, its table) by pg-boss itself, never by a copy of its SQL here.
 */
async function recordedSend(boss: PgBoss, queue: QueueName, data: unknown, startAfter: number | undefined): Promise<RawBuilder<unknown>> {
  const recorded: { text: string; values: unknown[] }[] = [];
  const recorder = {
    executeSql: async (text: string, values: unknown[] = []) => {
      recorded.push({ text, values });
      return { rows: [{ id: '00000000-0000-4000-8000-000000000000' }] };
    },
  };
  await boss.send(queue, data as object, { ...(startAfter !== undefined ? { startAfter } : {}), db: recorder });
  const only = recorded.length === 1 ? recorded[0]! : undefined;
  const parts = only?.text.trim().split('$1') ?? [];
  // A CTE must be a plain INSERT with its one parameter: a queue with pg-boss's `notify` sends a
  // WITH statement, which PostgreSQL does not allow nested.
  if (!only || !/^insert\b/i.test(only.text.trim()) || parts.length !== 2 || only.values.length !== 1) {
    throw new Error(`pg-boss's send for ${queue} is not one plain INSERT with one parameter; it cannot ride in another statement`);
  }
  // Parenthesised, as the body of a CTE is.
  return sql`(${sql.raw(parts[0]!)}${only.values[0]}${sql.raw(parts[1]!)})`;
}

export interface JobQueueOptions {
  pollingIntervalSeconds?: number;
  /** Put jobs left active by a dead process back to run now; only when no other process uses the database. */
  recoverActiveJobs?: boolean;
}

export function createJobQueue(database: AppDatabase, logger: Logger, options: JobQueueOptions = {}): JobQueue {
  let boss: PgBoss | undefined;
  let ready = false;
  const pollingIntervalSeconds = options.pollingIntervalSeconds ?? (database.kind === 'postgres' ? POSTGRES_POLLING_SECONDS : IDLE_POLLING_SECONDS);
  const superviseIntervalSeconds = database.kind === 'postgres' ? POSTGRES_SUPERVISE_INTERVAL_SECONDS : SUPERVISE_INTERVAL_SECONDS;
  const slots = new Map<QueueName, { all: Slot[]; next: number }>();
  const timers = new Set<NodeJS.Timeout>();
  const pollers = new Set<NodeJS.Timeout>();

  /**
   * Wakes one slot of the queue that is not running jobs; a busy slot looks again when it is done.
   * In turn, so a slot whose fetch is slow to return (a database restarting) does not take every wake-up.
   */
  const wakeNow = (queue: QueueName) => {
    const queueSlots = slots.get(queue);
    if (!queueSlots) return;
    const { all } = queueSlots;
    for (let i = 0; i < all.length; i++) {
      const slot = all[(queueSlots.next + i) % all.length]!;
      if (slot.id === undefined || slot.busy) continue;
      queueSlots.next = (queueSlots.next + i + 1) % all.length;
      boss?.notifyWorker(slot.id);
      return;
    }
  };
  /** Wakes this process's workers of the queue when the job is due, so it need not wait for a poll. */
  const wake = (queue: QueueName, at: Date | undefined) => {
    const delay = at ? at.getTime() - Date.now() : 0;
    if (delay <= 0) return wakeNow(queue);
    // Far-off jobs are left to polling: a timer per job for days would only pile up.
    if (delay > MAX_WAKE_TIMER_MS) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      wakeNow(queue);
    }, delay + DUE_MARGIN_MS);
    timer.unref();
    timers.add(timer);
  };

  const recoverActiveJobs = async (boss: PgBoss) => {
    const { rows } = (await database.jobSql.executeSql(ACTIVE_JOBS)) as { rows: { name: string; id: string }[] };
    if (rows.length === 0) return;
    const byQueue = new Map<string, string[]>();
    for (const { name, id } of rows) byQueue.set(name, [...(byQueue.get(name) ?? []), id]);
    const now = new Date();
    for (const [queue, ids] of byQueue) {
      await boss.fail(queue, ids, RECOVERED_OUTPUT);
      // A job out of retries is `failed` now, which `update` leaves alone.
      for (const id of ids) await boss.update(queue, undefined, { id, startAfter: now });
    }
    logger.warn({ jobs: rows.length, queues: [...byQueue.keys()] }, 'jobs left running by a stopped process are retried now');
  };

  const requireBoss = () => {
    if (!boss) throw new Error('job queue is not started');
    return boss;
  };

  return {
    get ready() {
      return ready;
    },
    async start({ workers }) {
      const upgrading = await setAsidePgBoss10(database.db, logger);
      boss = new PgBoss({
        db: database.jobSql,
        schema: 'pgboss',
        supervise: workers,
        schedule: workers,
        migrate: true,
        superviseIntervalSeconds,
        monitorIntervalSeconds: superviseIntervalSeconds,
        ...BACKGROUND_OPTIONS,
        ...(database.kind === 'pglite' ? { backend: 'pglite' } : {}),
      });
      boss.on('error', (error) => logger.error({ err: error }, 'job queue error'));
      await boss.start();
      if (options.recoverActiveJobs) await recoverActiveJobs(boss);
      for (const queue of Object.values(QUEUES)) {
        await boss.createQueue(queue.name, queue);
        // createQueue leaves an existing queue as it was: a database from before heartbeats (or
        // before the ticket jobs' longer expiry) gets them here.
        if (queue.heartbeatSeconds !== undefined) await boss.updateQueue(queue.name, { heartbeatSeconds: queue.heartbeatSeconds, expireInSeconds: queue.expireInSeconds! });
      }
      if (upgrading) await movePgBoss10Jobs(database.db, boss, logger);
      ready = true;
    },
    async send(executor, queue, data, sendOptions = {}) {
      const boss = requireBoss();
      // pg-boss's send is one statement: the wake waits for the caller's commit.
      // On the next turn of the event loop, not in the commit itself: what else the commit started
      // (a callback POST, a response) goes out before the woken workers' fetches (issue 21).
      executor.afterNextCommit?.(() => setImmediate(() => wake(queue, sendOptions.startAfter)));
      await boss.send(queue, data, { ...sendOptions, db: executor });
    },
    async jobInsert(queue, data, insertOptions = {}) {
      const { startAfterSeconds } = insertOptions;
      const statement = await recordedSend(requireBoss(), queue, data, startAfterSeconds);
      return {
        statement,
        committed: () => setImmediate(() => wake(queue, startAfterSeconds === undefined ? undefined : new Date(Date.now() + startAfterSeconds * 1000))),
      };
    },
    async work(queue, handler, workOptions = {}) {
      const boss = requireBoss();
      const runJob = async (job: Job<JobData[typeof queue]>) => {
        try {
          await handler(job.data, { jobId: job.id, queue, attempt: job.retryCount + 1 });
        } catch (error) {
          const approvalId = typeof job.data === 'object' && job.data && 'approvalId' in job.data ? job.data.approvalId : undefined;
          logger.warn({ err: error, jobId: job.id, queue, approvalId }, 'job failed; it will be retried');
          await boss.fail(queue, job.id, { message: error instanceof Error ? error.message : String(error) });
          if (workOptions.onFailure) {
            // pg-boss picked the retry time (backoff with jitter): read it back rather than guess it.
            const failed = await boss.getJobById(queue, job.id);
            const retryAt = failed?.state === 'retry' ? failed.startAfter : null;
            await workOptions.onFailure(job.data, { error, attempt: job.retryCount + 1, retryAt }).catch((failure: unknown) => logger.error({ err: failure, jobId: job.id, queue, approvalId }, 'recording a job failure failed'));
          }
        }
      };
      const queueSlots: Slot[] = [];
      slots.set(queue, { all: queueSlots, next: 0 });
      for (let i = 0; i < SLOTS_PER_QUEUE; i++) {
        // The id is known only once `work` resolves; the slot's first fetch may already be running.
        const slot: Slot = { busy: false };
        queueSlots.push(slot);
        slot.id = await boss.work<JobData[typeof queue]>(queue, { pollingIntervalSeconds: SLOT_BACKSTOP_POLLING_SECONDS, batchSize: JOBS_PER_FETCH, includeMetadata: true }, async (jobs) => {
          slot.busy = true;
          const full = jobs.length === JOBS_PER_FETCH;
          // A full fetch means more are due now: another slot takes the next ones while this one runs.
          if (full) wakeNow(queue);
          try {
            // Jobs of one fetch run side by side; each fails (and is retried) on its own. Only failing
            // to record a failure (the database gone) fails the fetch, once all of it has run.
            const outcomes = await Promise.allSettled(jobs.map(runJob));
            const unrecorded = outcomes.find((outcome) => outcome.status === 'rejected');
            if (unrecorded) throw unrecorded.reason;
          } finally {
            slot.busy = false;
            // pg-boss would wait a polling interval after this fetch; a full one means more are due.
            if (full && slot.id) boss.notifyWorker(slot.id);
          }
        });
      }
      // The queue's one poll: retries pg-boss schedules, jobs of other processes, timers of a restarted one.
      const poller = setInterval(() => wakeNow(queue), pollingIntervalSeconds * 1000);
      poller.unref();
      pollers.add(poller);
    },
    async schedule(queue, cron, tz) {
      await requireBoss().schedule(queue, cron, {}, tz ? { tz } : {});
    },
    async unschedule(queue) {
      await requireBoss().unschedule(queue);
    },
    async stop(timeoutMs = 10_000) {
      ready = false;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const poller of pollers) clearInterval(poller);
      pollers.clear();
      slots.clear();
      await boss?.stop({ graceful: true, timeout: timeoutMs, close: false });
    },
  };
}
