import { WebAPIPlatformError } from '@slack/web-api';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { executorFor } from '../../db/open-database.ts';
import type { Database, ProviderEventTables } from '../../db/schema.ts';
import type { JobData, JobQueue } from '../../jobs/job-queue.ts';
import { badRequest, unauthorized } from '../../primitives/errors.ts';
import type { TicketActivity } from '../provider-adapter.ts';
import { voteActivity } from './slack-adapter.ts';
import type { SlackWebLike } from './slack-client.ts';
import { deliveryKey, parseSlackRequest, type SlackEndpoint, type SlackInput } from './slack-inputs.ts';
import { approveModal, rejectModal, type ApprovalMessage } from './slack-message.ts';
import { parseStrictJson } from '../../primitives/parse-strict-json.ts';
import { findByMessageKey } from './slack-message-state.ts';
import { escapeSlack } from './slack-text.ts';
import { verifySlackSignature, type Headers } from './slack-signature.ts';
import { messageKey, parseMessageKey, type SlackMessageRef } from './slack-ticket-key.ts';

export interface SlackReceiveDeps {
  db: Kysely<Database>;
  jobs: Pick<JobQueue, 'send'>;
  signingSecret: string;
  now: () => Date;
}

export interface SlackAnswer {
  status: number;
  /** `undefined`: an empty 200, what Slack expects for interactions (a view submission then closes its modal). */
  body?: Record<string, unknown>;
}

/**
 * One request to `POST /webhooks/slack/{interactions,events}`, framework-free. The signature is
 * checked over the raw body before anything parses it (401, nothing stored, when it fails);
 * `url_verification` is answered with its challenge; anything Countersign acts on is stored as
 * a durable delivery row and a `slack-delivery` job in one transaction, and only then answered:
 * Slack does not redeliver interactions, and wants an answer within 3 s, so the work (the
 * decision, the modal, the message update) is the job's. The row's key is built from the signed
 * body alone, so a replayed request and an Events API retry (`X-Slack-Retry-Num`) find it taken.
 */
export async function receiveSlackRequest(deps: SlackReceiveDeps, endpoint: SlackEndpoint, rawBody: string, headers: Headers): Promise<SlackAnswer> {
  if (!verifySlackSignature(rawBody, headers, [deps.signingSecret], deps.now().getTime() / 1000)) {
    throw unauthorized('the Slack request signature is missing, wrong or older than 5 minutes; check that SLACK_SIGNING_SECRET is the app’s Signing Secret (Basic Information) and that the clock is right');
  }
  const input = parseSlackRequest(endpoint, rawBody);
  if (input.kind === 'url_verification') return { status: 200, body: { challenge: input.challenge } };
  if (input.kind === 'malformed') throw badRequest('invalid_body', `not a Slack ${endpoint} request: ${input.reason}`);
  if (input.kind === 'ignored') return { status: 200 };
  const key = deliveryKey(input)!;
  await deps.db.transaction().execute(async (trx) => {
    const fresh = await trx
      .withTables<ProviderEventTables>()
      .insertInto('webhook_deliveries')
      .values({ provider: 'slack', delivery_id: key, event: `${endpoint}:${input.kind}` })
      .onConflict((oc) => oc.doNothing())
      .returning('delivery_id')
      .executeTakeFirst();
    if (fresh) await deps.jobs.send(executorFor(trx), 'slack-delivery', { endpoint, body: rawBody });
  });
  return { status: 200 };
}

/** What came of a vote, as far as Slack shows it. */
export type VoteOutcome = 'decided' | 'counted' | 'refused' | 'late' | 'duplicate' | 'ignored';

/** The core's account of an applied ticket activity (`ActivityResult` of src/tickets), in the slice read here. */
export interface AppliedActivity {
  result: string;
  decision?: { result?: string; items?: ReadonlyArray<{ result: string }> };
}

/** Reads an `ActivityResult` for Slack: whether the message needs a new vote count, or the person a word. */
export function voteOutcome(applied: AppliedActivity): VoteOutcome {
  if (applied.result === 'duplicate') return 'duplicate';
  if (applied.result === 'attempted') return (applied.decision?.result as VoteOutcome | undefined) ?? 'ignored';
  if (applied.result === 'batch') {
    const items = applied.decision?.items ?? [];
    if (items.some((item) => item.result === 'counted')) return 'counted';
    if (items.length > 0 && items.every((item) => item.result === 'late')) return 'late';
    return items.every((item) => item.result === 'refused') ? 'refused' : 'decided';
  }
  return 'ignored';
}

export interface SlackDeliveryDeps {
  client: SlackWebLike;
  db: Kysely<Database>;
  logger: Logger;
  /** Rewrites an approval's message from its stored state (the adapter's `refresh`). */
  refresh(approvalId: string, message: SlackMessageRef): Promise<void>;
  /**
   * Applies a vote on a `provider: slack` message through the decision engine, exactly as a
   * GitHub comment is (`applyTicketActivity`: claimed by `activity.id` in the vote's own
   * transaction, authorized by the signed user id, audited); wired in by start-services.
   */
  applyVote(activity: TicketActivity): Promise<VoteOutcome>;
  /**
   * Decides an approval whose ticket is elsewhere, from its `notify.slack` message, as the Slack
   * actor `user` (`decideApproval` with `namespace: 'slack'`, the people directory turning the
   * user id into a person, claimed by `id` with the vote); wired in by start-services.
   */
  decideAsChannel(vote: { approvalId: string; user: string; outcome: 'approve' | 'reject'; reason: string | null; id: string; edit?: { payload: unknown }; grant?: { hours: number } }): Promise<{ outcome: VoteOutcome; reason?: string }>;
  /** The approval as its message shows it (for the "Approve with changes…" modal's payload and choices). */
  messageOf(approvalId: string): Promise<ApprovalMessage | undefined>;
}

/** Where an approval is shown in Slack: its ticket (`provider: slack`) or its `notify.slack` notice. */
async function slackMessageOf(db: Kysely<Database>, approvalId: string): Promise<{ message: SlackMessageRef; isTicket: boolean } | undefined> {
  const table = approvalId.startsWith('bat_') ? 'batches' : 'approvals';
  const row = await db.selectFrom(table).select(['ticket', 'provider']).where('id', '=', approvalId).executeTakeFirst();
  if (!row) return undefined;
  if (row.provider === 'slack') return row.ticket ? { message: parseMessageKey(row.ticket.key), isTicket: true } : undefined;
  const notice = await db.selectFrom('channel_messages').select('ref').where('approval_id', '=', approvalId).where('channel', '=', 'slack').executeTakeFirst();
  const ref = notice?.ref as { channel?: unknown; key?: unknown } | null | undefined;
  return typeof ref?.channel === 'string' && typeof ref.key === 'string' ? { message: { channel: ref.channel, ts: ref.key }, isTicket: false } : undefined;
}

/**
 * The approval a vote decides, and the message it is shown on. A button's value (or the modal's
 * metadata) names an approval, and a channel command names one in its text: either counts only
 * when that approval's own message is the one clicked (or is in the channel written in), so a
 * value edited to name another approval decides nothing.
 */
async function voteTarget(db: Kysely<Database>, input: Extract<SlackInput, { kind: 'vote' }>): Promise<{ approvalId: string; message: SlackMessageRef; isTicket: boolean } | undefined> {
  const { channel, ts } = input.message;
  const approvalId = input.approvalId ?? (ts !== undefined ? await findByMessageKey(db, messageKey({ channel, ts })) : undefined);
  if (!approvalId) return undefined;
  const shown = await slackMessageOf(db, approvalId);
  if (!shown || shown.message.channel !== channel || (ts !== undefined && shown.message.ts !== ts)) return undefined;
  return { approvalId, ...shown };
}

/**
 * The `slack-delivery` job: what a stored Slack request asks for. Retried by pg-boss when it
 * throws (a 429 or 5xx that outlasted the client's own retries): the vote is applied once by its
 * id whatever the number of runs, and a message update writes the stored state, the same twice.
 */
export async function runSlackDelivery(deps: SlackDeliveryDeps, data: JobData['slack-delivery']): Promise<void> {
  const input = parseSlackRequest(data.endpoint, data.body);
  const log = deps.logger.child({ provider: 'slack', delivery: deliveryKey(input) });
  if (input.kind === 'open-reject' || input.kind === 'open-approve') {
    const metadata = JSON.stringify({ approvalId: input.approvalId, channel: input.message.channel, ts: input.message.ts });
    const shown = input.kind === 'open-approve' ? await deps.messageOf(input.approvalId) : undefined;
    if (input.kind === 'open-approve' && !shown) return log.debug('Slack "Approve with changes" names no approval');
    try {
      await deps.client.views.open({ trigger_id: input.triggerId, view: shown ? approveModal(metadata, shown) : rejectModal(metadata, input.approvalId) });
    } catch (error) {
      // The trigger lives 3 s: a retry cannot bring it back. Say so to the person instead.
      if (error instanceof WebAPIPlatformError && (error.data.error === 'expired_trigger_id' || error.data.error === 'invalid_trigger_id')) {
        log.warn('a modal could not be opened in time');
        const instead = input.kind === 'open-reject' ? 'Reply in this thread with `reject <reason>` instead.' : 'Press it again, or approve with changes in the web inbox.';
        await deps.client.chat.postEphemeral({ channel: input.message.channel, user: input.user, thread_ts: input.message.ts, text: `Countersign could not open the form in time. ${instead}` });
        return;
      }
      throw error;
    }
    return;
  }
  if (input.kind !== 'vote') return;
  const target = await voteTarget(deps.db, input);
  if (!target) return log.debug('Slack vote names no approval of this channel');
  const extras = readModalExtras(input);
  if ('invalid' in extras) {
    await deps.client.chat.postEphemeral({ channel: target.message.channel, user: input.user, thread_ts: target.message.ts, text: `Countersign did not count that: the payload you typed is not valid JSON (${escapeSlack(extras.invalid)}). Nothing was decided.` });
    return;
  }
  if (!target.isTicket) {
    // The ticket is elsewhere: the engine queues this channel's notice (counted, decided) itself; a refusal is said here, to that person alone.
    const { outcome, reason } = await deps.decideAsChannel({ approvalId: target.approvalId, user: input.user, outcome: input.outcome, reason: input.reason, id: input.id, ...extras });
    log.info({ approvalId: target.approvalId, actor: input.user, outcome }, 'Slack vote applied');
    if (outcome === 'refused') await deps.client.chat.postEphemeral({ channel: target.message.channel, user: input.user, thread_ts: target.message.ts, text: `Countersign did not count that: ${escapeSlack(reason ?? 'refused')}` });
    if (outcome === 'late') await alreadyDecided(deps, target, input.user);
    return;
  }
  const outcome = await deps.applyVote({ ...voteActivity(input, target.approvalId, target.message), ...extras });
  log.info({ approvalId: target.approvalId, actor: input.user, outcome }, 'Slack vote applied');
  // A decision, a cancellation and a refusal reach the message through the ticket-update job; a counted vote has no such job.
  if (outcome === 'counted' || outcome === 'duplicate') await deps.refresh(target.approvalId, target.message);
  if (outcome === 'late') await alreadyDecided(deps, target, input.user);
}

/** The modal's payload text (JSON, checked by the engine against the project and its schema) and grant, as the decision carries them. */
function readModalExtras(input: Extract<SlackInput, { kind: 'vote' }>): { edit?: { payload: unknown }; grant?: { hours: number } } | { invalid: string } {
  const grant = input.grantHours !== undefined ? { grant: { hours: input.grantHours } } : {};
  if (input.payloadText === undefined) return grant;
  try {
    return { edit: { payload: parseStrictJson(input.payloadText) }, ...grant };
  } catch (error) {
    return { invalid: error instanceof Error ? error.message : 'not JSON' };
  }
}

async function alreadyDecided(deps: SlackDeliveryDeps, target: { approvalId: string; message: SlackMessageRef }, user: string): Promise<void> {
  await deps.client.chat.postEphemeral({ channel: target.message.channel, user, thread_ts: target.message.ts, text: `Countersign: \`${target.approvalId}\` was already decided; your answer changed nothing.` });
}
