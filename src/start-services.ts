import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { createApprovalEvents } from './db/approval-events.ts';
import { createAuditLog } from './audit/audit-log.ts';
import { loadSigner } from './primitives/signing-key.ts';
import { pruneAuditLog } from './audit/prune-audit-log.ts';
import { runBatchClose } from './batching/batches.ts';
import { createCallbackDelivery } from './callbacks/callback-delivery.ts';
import { createPeopleDirectory } from './channels/people-directory.ts';
import { createChannelRegistry } from './channels/channel-registry.ts';
import { runChannelNotice } from './channels/channel-notices.ts';
import { createMailer } from './channels/email/mailer.ts';
import { createEmailChannel } from './channels/email/email-channel.ts';
import { approvalLinkMinter } from './inbox/approval-links.ts';
import { runSignInEmail } from './inbox/sign-in.ts';
import { runEscalationTimer } from './escalation/escalation.ts';
import { resolveWithDns, type HostResolver } from './callbacks/callback-url-policy.ts';
import type { Config } from './config/config.ts';
import { lockDataDir } from './db/data-dir-lock.ts';
import { migrateToLatest } from './db/migrate.ts';
import { openDatabase, type AppDatabase, type DatabaseTarget } from './db/open-database.ts';
import { createJobQueue } from './jobs/job-queue.ts';
import { RECONCILE_CRON, runReconcileTickets } from './tickets/reconcile-tickets.ts';
import { recordTicketError, runCreateTicket, runUpdateTicket } from './tickets/ticket-jobs.ts';
import { createMetrics } from './metrics/metrics.ts';
import type { ProviderAdapter } from './providers/provider-adapter.ts';
import type { NotificationChannel } from './channels/notification-channel.ts';
import type { MailMessage } from './channels/email/mailer.ts';
import { createProviderRegistry } from './providers/provider-registry.ts';
import { createWitnessPublisher, type WitnessPublisher } from './audit/witness/witness-publisher.ts';
import { executorFor } from './db/open-database.ts';
import type { Services } from './services.ts';
import type { SlackWebLike } from './providers/slack/slack-client.ts';
import { resolveActivityTarget } from './tickets/activity-target.ts';
import { applyTicketActivity } from './tickets/apply-ticket-activity.ts';
import { ActivityAlreadyApplied, authorizedReviewers, decideApproval } from './approvals/decide-approval.ts';
import { claimActivity } from './tickets/ticket-activity-claims.ts';
import type { SlackIntegrationDeps } from './providers/slack/slack-integration.ts';

/** Retention runs once a day, at a quiet hour (UTC). */
const AUDIT_PRUNE_CRON = '17 3 * * *';

export { DataDirLockedError } from './db/data-dir-lock.ts';

export interface StartOptions {
  /** Run job workers and timers (the server), or only enqueue (the CLI). */
  workers: boolean;
  /** Overrides the target from config; tests use an in-memory PGlite or their own database. */
  target?: DatabaseTarget;
  extraProviders?: ProviderAdapter[];
  /** Notification channels beyond the configured ones (tests: a stand-in channel). */
  extraChannels?: NotificationChannel[];
  pollingIntervalSeconds?: number;
  now?: () => Date;
  /** DNS for callback URL checks at intake and at connect time; tests simulate rebinding with it. */
  resolveHost?: HostResolver;
  callbackRetryScheduleMs?: readonly number[];
  /** How long a callback sender's claim lasts (tests: short, to see the sweep take over). */
  callbackClaimMs?: number;
  /** How often the callback sweep looks for due deliveries (tests: short, for quick retries). */
  callbackSweepMs?: number;
  /** false: callbacks are not sent from the deciding commit, as if the process died right after it (tests). */
  callbackSendAtCommit?: boolean;
  /** Tests point Slack at their fake with a client of their own. */
  slackClient?: SlackWebLike;
}

export interface RunningServices extends Services {
  /** Publishes signed checkpoints to AUDIT_WITNESS (the server's; the CLI's has no witnesses). */
  readonly witnesses: WitnessPublisher;
  stop(): Promise<void>;
}

export function databaseTarget(config: Config): DatabaseTarget {
  return config.databaseUrl ? { kind: 'postgres', url: config.databaseUrl, preparedStatements: config.databasePreparedStatements } : { kind: 'pglite', dataDir: config.dataDir };
}

/**
 * Opens the database, migrates it, starts pg-boss (and, for the server, the workers).
 * With the embedded database it first takes the data directory's lock: two processes
 * opening one PGlite directory would corrupt it.
 */
export async function startServices(config: Config, logger: Logger, options: StartOptions): Promise<RunningServices> {
  const target = options.target ?? databaseTarget(config);
  const releaseLock = target.kind === 'pglite' && target.dataDir !== 'memory' ? await lockDataDir(target.dataDir) : undefined;
  let database: AppDatabase | undefined;
  try {
    database = await openDatabase(target, logger);
    await migrateToLatest(database.db as unknown as Kysely<unknown>);
    const jobs = createJobQueue(database, logger, {
      ...(options.pollingIntervalSeconds !== undefined ? { pollingIntervalSeconds: options.pollingIntervalSeconds } : {}),
      // This process holds the directory's lock, so it is the only one using this database:
      // a job still marked active was left by a process that died, and can run again now.
      recoverActiveJobs: releaseLock !== undefined,
    });
    const events = createApprovalEvents(database);
    const signer = await loadSigner(config);
    const audit = createAuditLog(database.db, signer, { now: options.now ?? (() => new Date()), logger, mode: database.kind === 'pglite' ? 'inline' : 'queued' });
    const metrics = createMetrics(database.db);
    const resolveHost = options.resolveHost ?? resolveWithDns;
    const callbacks = createCallbackDelivery({
      db: database.db,
      signer,
      audit,
      metrics,
      logger,
      resolveHost,
      ...(options.callbackRetryScheduleMs ? { retryScheduleMs: options.callbackRetryScheduleMs } : {}),
      ...(options.callbackClaimMs !== undefined ? { claimMs: options.callbackClaimMs } : {}),
      ...(options.callbackSweepMs !== undefined ? { sweepIntervalMs: options.callbackSweepMs } : {}),
      ...(options.callbackSendAtCommit !== undefined ? { sendAtCommit: options.callbackSendAtCommit } : {}),
    });
    // Slack's votes reach the engine once services exist (a job runs only after start).
    const late: { services?: Services } = {};
    const slack = config.slack
      ? (await import('./providers/slack/slack-integration.ts')).createSlackIntegration(config.slack, {
          db: database.db,
          jobs,
          logger,
          publicUrl: config.publicUrl,
          now: options.now ?? (() => new Date()),
          reviewers: authorizedReviewers,
          ...slackDecisions(late),
          ...(options.slackClient ? { client: options.slackClient } : {}),
        })
      : undefined;
    const providers = await createProviderRegistry(config, [...(slack ? [slack.adapter] : []), ...(options.extraProviders ?? [])], logger);
    const mail = config.email ? createMailer(config.email) : undefined;
    const services: Services = {
      config,
      logger,
      database,
      db: database.db,
      jobs,
      providers,
      people: createPeopleDirectory((name) => providers.identities(name)),
      channels: createChannelRegistry([
        ...(slack ? [slack.notifier] : []),
        ...(options.extraChannels ?? []),
        ...(mail ? [createEmailChannel({ mailer: mail, approvalLink: approvalLinkMinter({ db: database.db, config, now: options.now ?? (() => new Date()) }) })] : []),
      ]),
      metrics,
      events,
      signer,
      audit,
      callbacks,
      mail,
      resolveHost,
      now: options.now ?? (() => new Date()),
      ...(slack ? { slack } : {}),
    };
    late.services = services;
    await jobs.start({ workers: options.workers });
    const openedDatabase = database;
    // Only the server publishes to the audit witnesses (AUDIT_WITNESS); the CLI reads them in `audit verify --witness`.
    const witnessStores = options.workers && config.auditWitnesses.length > 0 ? await (await import('./witness/open-witness-stores.ts')).openWitnessStores(config.auditWitnesses, config.github, logger, config.slack) : [];
    const witnesses = createWitnessPublisher({
      db: database.db,
      audit,
      stores: witnessStores,
      enqueue: (witness, treeSize) => jobs.send(executorFor(openedDatabase.db), 'witness-publish', { witness, treeSize }, { singletonKey: `${witness}@${treeSize}` }),
      intervalMs: config.auditWitnessIntervalMs,
      logger,
    });
    if (options.workers) {
      await jobs.work('ticket-create', (data, meta) => runCreateTicket(services, data, meta), { onFailure: (data, failure) => recordTicketError(services, data, failure) });
      await jobs.work('ticket-update', (data) => runUpdateTicket(services, data));
      if ([...services.providers.available].some((name) => services.providers.get(name).capabilities.reconciles) || services.channels.all.some((channel) => channel.capabilities.reconciles)) {
        await jobs.work('ticket-reconcile', async () => {
          await runReconcileTickets(services);
        });
        await jobs.schedule('ticket-reconcile', RECONCILE_CRON);
      }
      if (config.auditRetentionMs !== undefined) {
        const olderThanMs = config.auditRetentionMs;
        await jobs.work('audit-prune', async () => {
          const result = await pruneAuditLog(services.db, services.audit, { olderThanMs, now: services.now(), actor: { kind: 'system', id: 'retention', via: 'schedule' } });
          logger.info({ result }, 'audit retention ran');
        });
        await jobs.schedule('audit-prune', AUDIT_PRUNE_CRON);
      } else {
        // Retention was switched off: stop the schedule an earlier start left behind.
        await jobs.unschedule('audit-prune');
      }
      if (slack) {
        await jobs.work('slack-delivery', (data) => slack.runDelivery(data));
        // Thread replies given while this process was down count now, not at the next minute.
        await jobs.send(executorFor(openedDatabase.db), 'ticket-reconcile', {});
      }
      await jobs.work('escalation-timer', (data) => runEscalationTimer(services, data));
      await jobs.work('batch-close', (data, meta) => runBatchClose(services, data, meta));
      if (services.channels.all.length > 0) await jobs.work('channel-notice', (data, meta) => runChannelNotice(services, data, meta));
      // Callbacks queue no jobs now (the sweep sends what is due); this runs the ones a database
      // still holds from before, or that an older instance sends during a rolling upgrade.
      await jobs.work('callback-deliver', async ({ approvalId }) => {
        await callbacks.attempt(approvalId);
      });
      callbacks.startSweep();
      await jobs.work('sign-in-email', (data) => runSignInEmail(services, data));
      await jobs.work('witness-publish', ({ witness, treeSize }) => witnesses.publish(witness, treeSize));
      const [{ startWeeklyReview }, { reviewPosters }] = await Promise.all([import('./review/weekly-review-job.ts'), import('./review/review-posters.ts')]);
      const { slack: slackIntegration, mail } = services;
      await startWeeklyReview({
        ...services,
        posters: reviewPosters({
          ...(slackIntegration ? { postToSlack: (channel: string, text: string) => slackIntegration.postMessage(channel, text) } : {}),
          ...(mail ? { sendMail: (message: MailMessage) => mail.sendMail(message) } : {}),
        }),
      });
    }
    await events.start();
    // Registers this signer's public key; the server also signs checkpoints.
    await audit.start({ checkpoints: options.workers });
    witnesses.start();

    return {
      ...services,
      witnesses,
      async stop() {
        await callbacks.drain();
        // Before the queue stops: a witness that is not local gets its last checkpoint as a job.
        await witnesses.stop();
        await jobs.stop();
        await events.stop();
        await audit.stop();
        mail?.close();
        await openedDatabase.close();
        await releaseLock?.();
      },
    };
  } catch (error) {
    // A start that failed half-way lets go of everything, so the next `serve` starts at once.
    await database?.close().catch(() => undefined);
    await releaseLock?.();
    throw error;
  }
}

/**
 * How Slack's answers reach the engine: a vote on a `provider: slack` message as that ticket's
 * activity (as a GitHub comment is), a vote on a `notify.slack` message as a Slack actor, and
 * the reviewers' Slack ids through the people directory.
 */
function slackDecisions(late: { services?: Services }): Pick<SlackIntegrationDeps, 'applyVote' | 'decideAsChannel' | 'slackIds'> {
  const services = () => late.services!;
  return {
    async applyVote(activity) {
      const { voteOutcome } = await import('./providers/slack/slack-deliveries.ts');
      const target = await resolveActivityTarget(services().db, activity.approvalId);
      return target ? voteOutcome(await applyTicketActivity(services(), 'slack', activity, target)) : 'ignored';
    },
    async decideAsChannel(vote) {
      try {
        const result = await decideApproval(
          services(),
          { approvalId: vote.approvalId, reviewer: vote.user, namespace: 'slack', outcome: vote.outcome, reason: vote.reason, via: 'slack', ...(vote.edit ? { edit: vote.edit } : {}), ...(vote.grant ? { grant: vote.grant } : {}) },
          { claim: (trx) => claimActivity(trx, 'slack', vote.id, vote.approvalId) },
        );
        return result.result === 'refused' ? { outcome: 'refused', reason: result.reason } : { outcome: result.result };
      } catch (error) {
        if (error instanceof ActivityAlreadyApplied) return { outcome: 'duplicate' };
        throw error;
      }
    },
    slackIds: async (entries) => (await services().people.load(services().db)).identitiesIn(entries, 'slack', { keepUnknown: true }),
  };
}
