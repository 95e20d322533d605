import type { Kysely } from 'kysely';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ApprovalRow, Database } from '../db/schema.ts';

/** Queue times run from seconds (auto-approval, a reviewer at their desk) to a day (escalation's last tier). */
const QUEUE_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400];

export interface Metrics {
  readonly registry: Registry;
  /** Records a decided approval's queue time: request to decision. */
  observeDecision(approval: ApprovalRow): void;
  observeIntake(project: string, outcome: 'accepted' | 'replayed'): void;
  observeHttp(route: string, method: string, status: number, seconds: number): void;
  /** Records decision → callback received, and request → callback received (the agent's end-to-end wait). */
  observeCallbackDelivered(approval: DecidedApproval, deliveredAt: Date): void;
  observeCallbackDead(project: string): void;
  /** A failed attempt to open a ticket, by what failed (ProviderFailure's reason). */
  observeTicketError(provider: string, project: string, reason: string): void;
}

type DecidedApproval = Pick<ApprovalRow, 'created_at' | 'decided_at' | 'project' | 'provider' | 'risk' | 'status'>;

export function createMetrics(db: Kysely<Database>): Metrics {
  const registry = new Registry();
  // prom-client's names already start with `process_` / `nodejs_`: the prefix is only ours.
  collectDefaultMetrics({ register: registry, prefix: 'countersign_' });

  const queueSeconds = new Histogram({
    name: 'countersign_queue_seconds',
    help: 'Time from an approval request to its decision',
    labelNames: ['project', 'provider', 'risk', 'outcome'] as const,
    buckets: QUEUE_BUCKETS,
    registers: [registry],
  });
  const intake = new Counter({
    name: 'countersign_intake_requests_total',
    help: 'Approval requests accepted at intake',
    labelNames: ['project', 'outcome'] as const,
    registers: [registry],
  });
  const http = new Histogram({
    name: 'countersign_http_request_duration_seconds',
    help: 'HTTP request duration by route',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const callbackSeconds = new Histogram({
    name: 'countersign_callback_delivery_seconds',
    help: 'Time from a decision to its callback being accepted by the agent',
    labelNames: ['project', 'provider'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 60, 300, 3600, 86400],
    registers: [registry],
  });
  const endToEndSeconds = new Histogram({
    name: 'countersign_end_to_end_seconds',
    help: "Time from an approval request to the agent's callback being accepted: the whole wait the agent sees",
    labelNames: ['project', 'provider', 'risk', 'outcome'] as const,
    buckets: QUEUE_BUCKETS,
    registers: [registry],
  });
  const callbacksDead = new Counter({
    name: 'countersign_callbacks_dead_total',
    help: 'Callbacks given up after the retry schedule (or a 410 from the receiver)',
    labelNames: ['project'] as const,
    registers: [registry],
  });
  const ticketErrors = new Counter({
    name: 'countersign_ticket_errors_total',
    help: 'Failed attempts to open a ticket at the provider, by what failed',
    labelNames: ['provider', 'project', 'reason'] as const,
    registers: [registry],
  });
  /**
   * Approvals per project and provider, read from the database at scrape time, so every instance
   * reports the same, true count, and decisions the CLI made while no server ran, or another
   * instance made, are in it (the histograms only see what this process decided). `by status`
   * counts every approval under its status; `pending` only those waiting; `ticket failing` only
   * pending ones without a ticket whose last attempt to open one failed.
   */
  const approvalCount = (name: string, help: string, counted: 'by status' | 'pending' | 'ticket failing') =>
    new Gauge({
      name,
      help,
      labelNames: counted === 'by status' ? (['project', 'provider', 'status'] as const) : (['project', 'provider'] as const),
      registers: [registry],
      async collect() {
        this.reset();
        const rows = await db
          .selectFrom('approvals')
          .select(['project', 'provider', 'status', (eb) => eb.fn.countAll<string | number>().as('count')])
          .$if(counted !== 'by status', (query) => query.where('status', '=', 'pending'))
          .$if(counted === 'ticket failing', (query) => query.where('ticket', 'is', null).where('ticket_error', 'is not', null))
          .groupBy(['project', 'provider', 'status'])
          .execute();
        for (const { project, provider, status, count } of rows) this.set(counted === 'by status' ? { project, provider, status } : { project, provider }, Number(count));
      },
    });
  approvalCount('countersign_approvals', 'Approvals by status, read from the database at scrape time (every instance and the CLI included)', 'by status');
  approvalCount('countersign_approvals_ticket_failing', 'Pending approvals with no ticket whose last attempt to open one failed', 'ticket failing');
  approvalCount('countersign_pending_approvals', 'Approvals waiting for a decision', 'pending');
  // Standing grants, from the database like the approval counts: active ones, and the approvals they made.
  new Gauge({
    name: 'countersign_grants_active',
    help: 'Standing grants neither revoked nor expired, per project',
    labelNames: ['project'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db
        .selectFrom('grants')
        .select(['project', (eb) => eb.fn.countAll<string | number>().as('count')])
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', new Date())
        .groupBy('project')
        .execute();
      for (const { project, count } of rows) this.set({ project }, Number(count));
    },
  });
  new Gauge({
    name: 'countersign_grant_approvals',
    help: 'Requests approved at intake by a standing grant, per project (all time)',
    labelNames: ['project'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await db.selectFrom('grants').select(['project', (eb) => eb.fn.sum<string | number>('uses').as('uses')]).groupBy('project').execute();
      for (const { project, uses } of rows) this.set({ project }, Number(uses));
    },
  });

  return {
    registry,
    observeDecision(approval) {
      if (!approval.decided_at) return;
      const seconds = (approval.decided_at.getTime() - approval.created_at.getTime()) / 1000;
      queueSeconds.observe({ project: approval.project, provider: approval.provider, risk: approval.risk, outcome: approval.status }, Math.max(0, seconds));
    },
    observeIntake(project, outcome) {
      intake.inc({ project, outcome });
    },
    observeHttp(route, method, status, seconds) {
      http.observe({ route, method, status: String(status) }, seconds);
    },
    observeCallbackDelivered(approval, deliveredAt) {
      const labels = { project: approval.project, provider: approval.provider };
      if (approval.decided_at) callbackSeconds.observe(labels, Math.max(0, (deliveredAt.getTime() - approval.decided_at.getTime()) / 1000));
      endToEndSeconds.observe({ ...labels, risk: approval.risk, outcome: approval.status }, Math.max(0, (deliveredAt.getTime() - approval.created_at.getTime()) / 1000));
    },
    observeCallbackDead(project) {
      callbacksDead.inc({ project });
    },
    observeTicketError(provider, project, reason) {
      ticketErrors.inc({ provider, project, reason });
    },
  };
}
