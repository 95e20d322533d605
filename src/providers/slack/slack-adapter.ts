import { WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebAPIRequestError } from '@slack/web-api';
import type { Logger } from 'pino';
import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import { EXACT_IDENTITIES } from '../../primitives/identity-key.ts';
import type { PendingTicket, ProviderAdapter, ProviderFailure, TicketActivity, TicketRequest, TicketUpdate } from '../provider-adapter.ts';
import { readTextCommand, type SlackInput } from './slack-inputs.ts';
import { renderApprovalMessage, type ApprovalMessage } from './slack-message.ts';
import { decisionChoices } from '../../projects/mapping-schema.ts';
import { findByMessageKey, loadApprovalMessage, type MessageStateDeps } from './slack-message-state.ts';
import { escapeSlack, isSlackUserId, mention } from './slack-text.ts';
import { messageKey, messageUrl, parseMessageKey, type SlackMessageRef } from './slack-ticket-key.ts';
import type { SlackWebLike } from './slack-client.ts';

/** The metadata event type on Countersign's messages: how an interrupted post is found again. */
export const METADATA_EVENT = 'countersign_approval';
/** Messages posted this long before an approval's creation still count when looking for one (clock skew). */
const SKEW_SECONDS = 300;
export const MAX_REPLIES = 200;

export interface SlackAdapterOptions extends MessageStateDeps {
  logger: Logger;
}

type SlackProject = Extract<ProjectMapping, { provider: 'slack' }>;

function slackProject(project: ProjectMapping): SlackProject {
  if (project.provider !== 'slack') throw new Error(`project ${project.key} is mapped to ${project.provider}, not slack`);
  return project;
}

/** A vote read from Slack as the ticket activity the core applies (`TicketActivity`, keyed by message). */
export function voteActivity(input: Extract<SlackInput, { kind: 'vote' }>, approvalId: string, message: SlackMessageRef): TicketActivity {
  return {
    approvalId,
    ticketKey: messageKey(message),
    actor: input.user,
    kind: input.outcome,
    reason: input.reason,
    id: input.id,
    ...(input.selected ? { selected: input.selected } : {}),
  };
}

/**
 * The message Countersign posted for `approvalId` in `channel`, found by its metadata: an
 * interrupted post (Slack accepted it, the answer was lost) is found again on the retry
 * rather than posted twice.
 */
export async function findPostedMessage(client: SlackWebLike, channel: string, approvalId: string, createdAt: Date | undefined): Promise<SlackMessageRef | undefined> {
  const oldest = createdAt ? String(Math.floor(createdAt.getTime() / 1000) - SKEW_SECONDS) : undefined;
  const history = await client.conversations.history({ channel, include_all_metadata: true, limit: 200, ...(oldest ? { oldest } : {}) });
  const found = history.messages?.find((m) => m.metadata?.event_type === METADATA_EVENT && (m.metadata.event_payload as { approval_id?: unknown } | undefined)?.approval_id === approvalId);
  return found?.ts ? { channel, ts: found.ts } : undefined;
}


/** Slack's error, put in words an operator can act on; never the token or a response body. */
export function describeSlackError(error: unknown, channel: string, apiUrl = 'Slack'): ProviderFailure {
  if (error instanceof WebAPIRateLimitedError) return { reason: 'rate_limited', message: `Slack rate-limited the bot (retry after ${error.retryAfter} s)` };
  if (error instanceof WebAPIRequestError) return { reason: 'unreachable', message: `${apiUrl} cannot be reached: check SLACK_API_URL and the network` };
  if (error instanceof WebAPIHTTPError) return error.statusCode >= 500 ? { reason: 'unavailable', message: `Slack answered ${error.statusCode}: Slack is having trouble` } : { reason: 'error', message: `Slack answered HTTP ${error.statusCode}` };
  if (error instanceof WebAPIPlatformError) {
    const code = String(error.data.error);
    switch (code) {
      case 'not_authed':
      case 'invalid_auth':
      case 'account_inactive':
      case 'token_revoked':
      case 'token_expired':
        return { reason: 'unauthorized', message: `Slack does not accept SLACK_BOT_TOKEN (${code}): copy the Bot User OAuth Token (xoxb-…) from the app's OAuth & Permissions page` };
      case 'channel_not_found':
        return { reason: 'not_found', message: `Slack channel ${channel} does not exist or the bot cannot see it (channel_not_found): use the channel id (channel details → About) and /invite the app` };
      case 'not_in_channel':
        return { reason: 'forbidden', message: `the bot is not in channel ${channel} (not_in_channel): /invite the app there` };
      case 'is_archived':
        return { reason: 'invalid', message: `Slack channel ${channel} is archived (is_archived): unarchive it or map another channel` };
      case 'missing_scope':
        return { reason: 'forbidden', message: `the bot token lacks a scope (missing_scope${(error.data as { needed?: unknown }).needed ? `: ${escapeSlack(String((error.data as { needed?: unknown }).needed))}` : ''}): add it under OAuth & Permissions and reinstall the app` };
      case 'ratelimited':
        return { reason: 'rate_limited', message: 'Slack rate-limited the bot (ratelimited)' };
      default:
        return { reason: 'error', message: `Slack refused the call (${code.replace(/[^a-z0-9_]/gi, '')})` };
    }
  }
  return { reason: 'error', message: 'a call to Slack failed; the server log has the details' };
}

/**
 * Whether the bot can post in `channel` and read its threads: `conversations.info`, or where the
 * token lacks `channels:read` (docs/slack.md asks only for the scopes Countersign needs),
 * `conversations.history` with `limit: 1`, which answers the same questions with
 * `channels:history`: `channel_not_found`, `not_in_channel`, archived.
 */
export async function checkChannel(client: SlackWebLike, channel: string, projectKey: string): Promise<ProviderFailure[]> {
  const where = `Slack channel ${channel} of project ${projectKey}`;
  try {
    const info = await client.conversations.info({ channel });
    const failures: ProviderFailure[] = [];
    if (info.channel?.is_archived) failures.push({ reason: 'invalid', message: `${where} is archived: unarchive it or map another channel` });
    if (info.channel && info.channel.is_member === false) failures.push({ reason: 'forbidden', message: `the bot is not in ${where}: /invite the app there (it reads thread replies only in channels it is in)` });
    return failures;
  } catch (error) {
    if (!(error instanceof WebAPIPlatformError && error.data.error === 'missing_scope')) return [describeSlackError(error, channel)];
  }
  try {
    await client.conversations.history({ channel, limit: 1 });
    return [];
  } catch (error) {
    return [describeSlackError(error, channel)];
  }
}

/**
 * `provider: slack`: the message in the project's channel is the ticket. Opened with
 * `chat.postMessage` (with metadata naming the approval, so an interrupted post is found again
 * rather than posted twice); every later change rewrites it with `chat.update` from the stored
 * state; a refused attempt is answered to that person alone (`chat.postEphemeral`); an
 * escalation also mentions the backup reviewers in the message's thread. Decisions come in
 * through `POST /webhooks/slack/*` (slack-deliveries.ts), and thread replies made while the
 * service was down through `reconcile` (`conversations.replies`).
 */
export function createSlackAdapter(client: SlackWebLike, options: SlackAdapterOptions): ProviderAdapter & { refresh(approvalId: string, message: SlackMessageRef): Promise<void> } {
  const render = async (approvalId: string) => {
    const message = await loadApprovalMessage(options, approvalId, true);
    if (!message) throw new Error(`approval ${approvalId} or its project is gone`);
    return renderApprovalMessage(message);
  };

  async function refresh(approvalId: string, ref: SlackMessageRef): Promise<void> {
    const { text, blocks } = await render(approvalId);
    await client.chat.update({ channel: ref.channel, ts: ref.ts, text, blocks });
  }

  return {
    name: 'slack',
    capabilities: { decidesInCountersign: false, updatesTickets: true, webhooks: false, reconciles: true, revertsCountedVotes: false },
    // Slack user ids are exact, upper case: `U012AB3CD`.
    identities: EXACT_IDENTITIES,
    refresh,

    async createTicket(request: TicketRequest) {
      const { channel } = slackProject(request.project).slack;
      const earlier = (request.attempt ?? 1) > 1 ? await findPostedMessage(client, channel, request.approvalId, request.createdAt) : undefined;
      if (earlier) return { provider: 'slack', key: messageKey(earlier), url: messageUrl(earlier) };
      const message: ApprovalMessage = {
        approvalId: request.approvalId,
        project: request.project.key,
        action: request.action,
        summary: request.summary,
        details: request.details,
        payload: request.payload,
        payloadHash: request.payloadHash,
        risk: request.risk,
        requestedBy: request.requestedBy,
        approvalUrl: request.approvalUrl,
        reviewers: request.reviewers,
        required: request.requiredApprovals ?? 1,
        state: { kind: 'pending', approvals: 0, by: [] },
        buttons: true,
        ...(request.items ? { items: request.items } : { choices: decisionChoices(request.project, { payload: request.payload, risk: request.risk, required_approvals: request.requiredApprovals ?? 1 }) }),
      };
      const { text, blocks } = renderApprovalMessage(message);
      const posted = await client.chat.postMessage({
        channel,
        text,
        blocks,
        unfurl_links: false,
        unfurl_media: false,
        metadata: { event_type: METADATA_EVENT, event_payload: { approval_id: request.approvalId } },
      });
      if (!posted.ts) throw new Error('chat.postMessage answered without a ts');
      const ref = { channel: posted.channel ?? channel, ts: posted.ts };
      return { provider: 'slack', key: messageKey(ref), url: messageUrl(ref) };
    },

    async updateTicket(ticket, _project, update: TicketUpdate) {
      const ref = parseMessageKey(ticket.key);
            if (update.kind === 'refused') {
        // Only the person who tried hears it; the message and the channel stay as they were.
        if (!isSlackUserId(update.actor)) return;
        await client.chat.postEphemeral({ channel: ref.channel, user: update.actor, thread_ts: ref.ts, text: `Countersign did not count that: ${escapeSlack(update.reason)}` });
        return;
      }
      const approvalId = await findByMessageKey(options.db, ticket.key);
      if (!approvalId) return;
      await refresh(approvalId, ref);
      if (update.kind === 'escalated') {
        const who = update.reviewers.map(mention).join(', ');
        const why = update.by ? `${mention(update.by)} asked for escalation` : 'no decision within the time the mapping allows';
        await client.chat.postMessage({ channel: ref.channel, thread_ts: ref.ts, text: `Escalated to tier ${update.tier} (${why}): ${who || 'no further reviewers'}, please review.` });
      }
    },

    async reconcile(tickets: PendingTicket[]) {
      const activities: TicketActivity[] = [];
      for (const { approvalId, ticket } of tickets) {
        const ref = parseMessageKey(ticket.key);
        try {
          const replies = await client.conversations.replies({ channel: ref.channel, ts: ref.ts, limit: MAX_REPLIES });
          for (const reply of replies.messages ?? []) {
            if (reply.ts === ref.ts) continue;
            const input = readTextCommand(reply, ref.channel, { approvalId, ts: ref.ts });
            if (input.kind === 'vote') activities.push(voteActivity(input, approvalId, ref));
          }
        } catch (error) {
          // One unreadable thread (deleted message, channel left) must not stop the others.
          options.logger.warn({ approvalId, reason: describeSlackError(error, ref.channel).reason }, 'Slack thread could not be read for reconciliation');
        }
      }
      return activities;
    },

    async checkProject(project) {
      const { channel } = slackProject(project).slack;
      return checkChannel(client, channel, project.key);
    },

    describeError: (error, project) => describeSlackError(error, project.provider === 'slack' ? project.slack.channel : 'the channel'),
  };
}
