import type { Logger } from 'pino';
import type { DecisionRecord } from '../../db/schema.ts';
import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import { findProject } from '../../projects/project-store.ts';
import { EXACT_IDENTITIES } from '../../primitives/identity-key.ts';
import type { SlackWebLike } from './slack-client.ts';
import { renderApprovalMessage } from './slack-message.ts';
import { loadApprovalMessage, type MessageStateDeps } from './slack-message-state.ts';
import { mention } from './slack-text.ts';
import { checkChannel, describeSlackError, findPostedMessage, MAX_REPLIES } from './slack-adapter.ts';
import { readTextCommand } from './slack-inputs.ts';

/**
 * The slice of a channel notice (src/channels/notification-channel.ts, `ChannelNotice`) this
 * channel reads, declared here because providers sit below channels; start-services hands the
 * notifier to the channel registry, where TypeScript holds it to `NotificationChannel`.
 */
export interface SlackNotice {
  kind: 'needs-review' | 'counted' | 'refused' | 'decided' | 'cancelled';
  approval: { approvalId: string; project: string };
  recipients?: ReadonlyArray<{ person: string; address: string }>;
  tier?: number;
  by?: string;
  decision?: DecisionRecord;
  to?: { person: string; address: string };
  reason?: string;
}

/** An answer read back from a notice's thread (the core's `ChannelDecision`). */
export interface SlackAnswerRead {
  approvalId: string;
  actor: { namespace: 'slack'; id: string };
  outcome: 'approve' | 'reject';
  reason: string | null;
  id: string;
}

export interface SlackNoticeRef {
  channel: string;
  /** The message's `ts`. */
  key: string;
}

export interface SlackNotifierOptions extends MessageStateDeps {
  logger: Logger;
}

/** The channel a project notifies, when it has `notify.slack` and its ticket is elsewhere. */
export function notifyChannel(project: ProjectMapping): string | undefined {
  return project.provider === 'slack' ? undefined : project.notify?.slack?.channel;
}

/**
 * `notify.slack`: a GitHub-, Jira- or local-ticketed project's requests also posted to a Slack
 * channel, with the same message and buttons as a `provider: slack` project (one renderer,
 * slack-message.ts, over the stored state: a late or retried notice shows where things stand
 * now). The first notice posts; every later one rewrites that message (`chat.update`), and an
 * escalation also mentions the next tier in its thread. Answers come back through the same
 * request URLs and decide through the engine as Slack actors (slack-deliveries.ts).
 */
export function createSlackNotifier(client: SlackWebLike, options: SlackNotifierOptions) {
  return {
    name: 'slack',
    capabilities: { decides: true, updatesInPlace: true, reconciles: true },
    identities: EXACT_IDENTITIES,
    address: 'slack' as const,
    appliesTo: (project: ProjectMapping) => notifyChannel(project) !== undefined,
    /** `projects apply` and start-up ask this, as they ask an adapter's checkProject. */
    checkProject: async (project: ProjectMapping) => {
      const channel = notifyChannel(project);
      return channel ? checkChannel(client, channel, project.key) : [];
    },

    /**
     * Thread replies (`approve`, `reject <reason>`) on the notices of pending approvals, read back
     * with `conversations.replies`: answers given while the service was down. Each carries the id
     * its live event had, so the core applies it once.
     */
    async reconcile(pending: ReadonlyArray<{ approvalId: string; message: SlackNoticeRef }>) {
      const answers: SlackAnswerRead[] = [];
      for (const { approvalId, message } of pending) {
        try {
          const replies = await client.conversations.replies({ channel: message.channel, ts: message.key, limit: MAX_REPLIES });
          for (const reply of replies.messages ?? []) {
            if (reply.ts === message.key) continue;
            const input = readTextCommand(reply, message.channel, { approvalId, ts: message.key });
            if (input.kind === 'vote') answers.push({ approvalId, actor: { namespace: 'slack', id: input.user }, outcome: input.outcome, reason: input.reason, id: input.id });
          }
        } catch (error) {
          options.logger.warn({ approvalId, reason: describeSlackError(error, message.channel).reason }, 'Slack notice thread could not be read for reconciliation');
        }
      }
      return answers;
    },

    async notify(notice: SlackNotice, previous?: SlackNoticeRef, context?: { retry: boolean }): Promise<SlackNoticeRef | undefined> {
      if (notice.kind === 'refused') {
        // Said by the delivery job itself, to the person who clicked (chat.postEphemeral).
        return previous;
      }
      const project = await findProject(options.db, notice.approval.project);
      const channel = previous?.channel ?? (project ? notifyChannel(project) : undefined);
      if (!channel) return previous;
      const message = await loadApprovalMessage(options, notice.approval.approvalId, true);
      if (!message) return previous;
      const { text, blocks } = renderApprovalMessage(message);
      // A retried first notice may have been posted before its run failed: find it rather than post twice.
      const earlier = !previous && context?.retry ? await findPostedMessage(client, channel, message.approvalId, undefined) : undefined;
      if (earlier) previous = { channel: earlier.channel, key: earlier.ts };
      if (!previous) {
        const posted = await client.chat.postMessage({ channel, text, blocks, unfurl_links: false, unfurl_media: false, metadata: { event_type: 'countersign_approval', event_payload: { approval_id: message.approvalId } } });
        if (!posted.ts) throw new Error('chat.postMessage answered without a ts');
        return { channel: posted.channel ?? channel, key: posted.ts };
      }
      await client.chat.update({ channel: previous.channel, ts: previous.key, text, blocks });
      if (notice.kind === 'needs-review' && (notice.tier ?? 0) > 0) {
        const who = (notice.recipients ?? []).map((r) => mention(r.address)).join(', ');
        const why = notice.by ? `${mention(notice.by)} asked for escalation` : 'no decision in time';
        await client.chat.postMessage({ channel: previous.channel, thread_ts: previous.key, text: `Escalated to tier ${notice.tier} (${why}): ${who || 'no further reviewers'}, please review.` });
      }
      return previous;
    },
  };
}

export type SlackNotifier = ReturnType<typeof createSlackNotifier>;
