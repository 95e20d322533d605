import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../../config/config.ts';
import type { Database } from '../../db/schema.ts';
import type { JobData, JobQueue } from '../../jobs/job-queue.ts';
import type { TicketActivity } from '../provider-adapter.ts';
import { createSlackAdapter } from './slack-adapter.ts';
import { createSlackClient, type SlackWebLike } from './slack-client.ts';
import { receiveSlackRequest, runSlackDelivery, type SlackAnswer, type VoteOutcome } from './slack-deliveries.ts';
import type { SlackEndpoint } from './slack-inputs.ts';
import type { CurrentReviewers } from './slack-message-state.ts';
import { postSlackMessage } from './post-slack-message.ts';
import type { Headers } from './slack-signature.ts';

export interface SlackIntegrationDeps {
  db: Kysely<Database>;
  jobs: Pick<JobQueue, 'send'>;
  logger: Logger;
  publicUrl: string;
  now: () => Date;
  reviewers: CurrentReviewers;
  /** See SlackDeliveryDeps.applyVote; called only once services are running. */
  applyVote(activity: TicketActivity): Promise<VoteOutcome>;
  /** Tests hand in a client pointed at the fake; otherwise one is made from the config. */
  client?: SlackWebLike;
}

/** Everything Slack, over one Web API client: the `provider: slack` adapter, the two request URLs' handling, the delivery job, and a plain `postMessage` for others. */
export interface SlackIntegration {
  readonly client: SlackWebLike;
  readonly adapter: ReturnType<typeof createSlackAdapter>;
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
  const adapter = createSlackAdapter(client, { db: deps.db, publicUrl: deps.publicUrl, reviewers: deps.reviewers, logger: deps.logger });
  return {
    client,
    adapter,
    receive: (endpoint, rawBody, headers) => receiveSlackRequest({ db: deps.db, jobs: deps.jobs, signingSecret: config.signingSecret, now: deps.now }, endpoint, rawBody, headers),
    runDelivery: (data) => runSlackDelivery({ client, db: deps.db, logger: deps.logger, refresh: adapter.refresh, applyVote: deps.applyVote }, data),
    postMessage: (channel, text) => postSlackMessage(client, channel, text),
  };
}
