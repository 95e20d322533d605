import { loadApprovalMessage } from './slack-message-state.ts';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../../config/config.ts';
import type { Database } from '../../db/schema.ts';
import type { JobData, JobQueue } from '../../jobs/job-queue.ts';
import type { TicketActivity } from '../provider-adapter.ts';
import { createSlackAdapter } from './slack-adapter.ts';
import { createSlackClient, type SlackWebLike } from './slack-client.ts';
import { receiveSlackRequest, runSlackDelivery, type SlackAnswer, type SlackDeliveryDeps, type VoteOutcome } from './slack-deliveries.ts';
import { createSlackNotifier, type SlackNotifier } from './slack-notifier.ts';
import type { SlackEndpoint } from './slack-inputs.ts';
import type { CurrentReviewers, SlackIdsOf } from './slack-message-state.ts';
import { postSlackMessage } from './post-slack-message.ts';
import type { Headers } from './slack-signature.ts';

export interface SlackIntegrationDeps {
  db: Kysely<Database>;
  jobs: Pick<JobQueue, 'send'>;
  logger: Logger;
  publicUrl: string;
  now: () => Date;
  reviewers: CurrentReviewers;
  slackIds: SlackIdsOf;
  /** See SlackDeliveryDeps.applyVote; called only once services are running. */
  applyVote(activity: TicketActivity): Promise<VoteOutcome>;
  /** See SlackDeliveryDeps.decideAsChannel. */
  decideAsChannel: SlackDeliveryDeps['decideAsChannel'];
  /** Tests hand in a client pointed at the fake; otherwise one is made from the config. */
  client?: SlackWebLike;
}

/** Everything Slack, over one Web API client: the `provider: slack` adapter, the two request URLs' handling, the delivery job, and a plain `postMessage` for others. */
export interface SlackIntegration {
  readonly client: SlackWebLike;
  readonly adapter: ReturnType<typeof createSlackAdapter>;
  /** The `notify.slack` channel, registered with the channel registry. */
  readonly notifier: SlackNotifier;
  receive(endpoint: SlackEndpoint, rawBody: string, headers: Headers): Promise<SlackAnswer>;
  runDelivery(data: JobData['slack-delivery']): Promise<void>;
  /**
   * Posts `text` (Countersign's own words; escaped, so it cannot mention anyone) to a channel:
   * for other parts of Countersign that report to Slack (a weekly audit summary).
   */
  postMessage(channel: string, text: string): Promise<{ channel: string; ts: string }>;
}

/** Slack, when `SLACK_BOT_TOKEN` is set. Loaded only then (start-services imports this file lazily). */
export function createSlackIntegration(config: NonNullable<Config['slack']>, deps: SlackIntegrationDeps): SlackIntegration {
  const client = deps.client ?? createSlackClient(config, { logger: deps.logger });
  const state = { db: deps.db, publicUrl: deps.publicUrl, reviewers: deps.reviewers, slackIds: deps.slackIds, logger: deps.logger };
  const adapter = createSlackAdapter(client, state);
  return {
    client,
    adapter,
    notifier: createSlackNotifier(client, state),
    receive: (endpoint, rawBody, headers) => receiveSlackRequest({ db: deps.db, jobs: deps.jobs, signingSecret: config.signingSecret, now: deps.now }, endpoint, rawBody, headers),
    runDelivery: (data) =>
      runSlackDelivery({ client, db: deps.db, logger: deps.logger, refresh: adapter.refresh, applyVote: deps.applyVote, decideAsChannel: deps.decideAsChannel, messageOf: (id) => loadApprovalMessage(state, id, true) }, data),
    postMessage: (channel, text) => postSlackMessage(client, channel, text),
  };
}
