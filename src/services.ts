import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ApprovalEvents } from './db/approval-events.ts';
import type { AuditLog } from './audit/audit-log.ts';
import type { Signer } from './primitives/signing-key.ts';
import type { CallbackDelivery } from './callbacks/callback-delivery.ts';
import type { ChannelRegistry } from './channels/channel-registry.ts';
import type { PeopleDirectory } from './channels/people-directory.ts';
import type { Mailer } from './channels/email/mailer.ts';
import type { HostResolver } from './callbacks/callback-url-policy.ts';
import type { Config } from './config/config.ts';
import type { AppDatabase } from './db/open-database.ts';
import type { Database } from './db/schema.ts';
import type { JobQueue } from './jobs/job-queue.ts';
import type { Metrics } from './metrics/metrics.ts';
import type { ProviderRegistry } from './providers/provider-registry.ts';
import type { SlackIntegration } from './providers/slack/slack-integration.ts';

/** Everything a request, a job or a CLI command works with; built once per process by `startServices`. */
export interface Services {
  readonly config: Config;
  readonly logger: Logger;
  readonly database: AppDatabase;
  readonly db: Kysely<Database>;
  readonly jobs: JobQueue;
  readonly providers: ProviderRegistry;
  /** The one place that turns a provider's or channel's actor into a person. */
  readonly people: PeopleDirectory;
  /** The notification channels this server runs (Slack as a notifier, email). */
  readonly channels: ChannelRegistry;
  readonly metrics: Metrics;
  readonly events: ApprovalEvents;
  /** The service's Ed25519 key: audit records, checkpoints, callback receipts. */
  readonly signer: Signer;
  /** The tamper-evident audit log: append one record in the transaction of each state change. */
  readonly audit: AuditLog;
  readonly callbacks: CallbackDelivery;
  /** Email through SMTP_URL (undefined: email off). `sendMail({ to, subject, text, html })` throws on failure: call it from a job. */
  readonly mail: Mailer | undefined;
  /** DNS for callback URL checks; injected so tests need no resolver. */
  readonly resolveHost: HostResolver;
  /** Injected so tests can control time; the database's now() is used for stored timestamps. */
  readonly now: () => Date;
  /** Slack (provider and request URLs), when SLACK_BOT_TOKEN is set. */
  readonly slack?: SlackIntegration;
}
