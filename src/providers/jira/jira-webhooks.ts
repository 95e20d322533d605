import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import { parseWebhookJson } from '../parse-webhook-json.ts';
import { idKind } from '../../primitives/ids.ts';
import type { ParsedDelivery, ProviderWebhooks, TicketActivity } from '../provider-adapter.ts';
import { approvalAtMoment, commentActivity, descriptionChange, descriptionChangedSince, descriptionEditActivity, descriptionEditId, descriptionPayload, isCommand, type Moment, statusActivity, statusChange, statusChangeId, userId } from './jira-activity.ts';
import { isAdfDocument, readApprovalLabel } from './jira-issue-description.ts';
import type { JiraChangeItem, JiraComment, JiraHistory, JiraUser } from './jira-issues-like.ts';
import type { JiraProject, StatusResolver } from './jira-statuses.ts';

export interface JiraWebhooksConfig {
  secret: string;
  /** Older secrets still accepted while a rotation is under way. */
  additionalSecrets?: string[];
  /** The API user's id (`GET /myself`): its events are Countersign's own doing, never a reviewer's. */
  selfId: () => Promise<string>;
  statuses: StatusResolver;
  /**
   * The issue's description (REST v3: ADF) and changelog, read when a webhook carries no ADF
   * copy of the description (the REST v2 form, Data Center's wiki markup, a comment's slim issue).
   */
  readIssue: (issueKey: string) => Promise<IssueReading>;
}

export interface IssueReading {
  description: unknown;
  histories: readonly JiraHistory[];
}

interface DeliveryPayload {
  webhookEvent?: string;
  /** When the event happened (ms since the epoch), inside the signed body. */
  timestamp?: number;
  issue_event_type_name?: string;
  user?: JiraUser;
  issue?: { id?: string; key?: string; fields?: { labels?: string[]; creator?: JiraUser; project?: { id?: string; key?: string }; description?: unknown } };
  changelog?: { id?: string; items?: JiraChangeItem[] };
  comment?: JiraComment;
}

/** `sha256=<lowercase hex HMAC-SHA256 of the raw body>`, compared in constant time. */
export function signJiraBody(secret: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody, 'utf8').digest('hex')}`;
}

function signatureMatches(secret: string, rawBody: string, header: string): boolean {
  const expected = Buffer.from(signJiraBody(secret, rawBody));
  const given = Buffer.from(header.trim().toLowerCase());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The issue is in the mapping's Jira project (by key prefix, or the payload's project key or id). */
function inProject(project: JiraProject, issue: NonNullable<DeliveryPayload['issue']>): boolean {
  const wanted = project.jira.project.toLowerCase();
  const keys = [issue.key?.split('-')[0], issue.fields?.project?.key, issue.fields?.project?.id].filter((k): k is string => !!k).map((k) => k.toLowerCase());
  return keys.includes(wanted);
}

/**
 * `POST /webhooks/jira` without a web framework. Jira Cloud admin webhooks saved with a secret
 * sign the raw body into `X-Hub-Signature`; there is no event header, so the body's
 * `webhookEvent` is read; `X-Atlassian-Webhook-Identifier` is the same on every retry of a
 * delivery and is the dedup key. `jira:issue_updated` with a status change or a description
 * edit, and `comment_created` with a `/approve` or `/reject` command, are read into ticket
 * activities; everything else is ignored. A comment event carries only a slim issue (no
 * labels), so it names its ticket by key and the approval is found by the stored ticket.
 */
export function createJiraWebhooks(config: JiraWebhooksConfig): ProviderWebhooks {
  const secrets = [config.secret, ...(config.additionalSecrets ?? [])];

  /**
   * An approval with the payload block as the description showed it then: the webhook's own ADF
   * copy when it has one, else (only where edits are allowed: elsewhere the block is not read
   * on approval, and a changed one was already put back on its edit) the issue read now, judged
   * against its changelog (`approvalAtMoment`).
   */
  async function descriptionAt(project: ProjectMapping, ticketKey: string, activity: TicketActivity | null, description: unknown, moment: Moment): Promise<TicketActivity | null> {
    if (activity?.kind !== 'approve' || idKind(activity.approvalId) === 'batch') return activity;
    if (isAdfDocument(description)) return approvalAtMoment(activity, { description });
    if (project.allowEdits !== true) return activity;
    const read = await config.readIssue(ticketKey);
    return approvalAtMoment(activity, { ...read, moment });
  }

  /**
   * A description edit, with the block it left: the webhook's ADF copy, else the issue read now,
   * provided no later change of the description shows in its changelog. A later one (whoever
   * made it) has its own webhook, which speaks for what the description now says; this edit
   * is then nothing to act on, rather than be credited with a text its author never wrote.
   */
  async function descriptionEdit(ticketKey: string, base: { approvalId: string; ticketKey: string; actor: string }, description: unknown, event: { issue: string; changelogId: string | undefined; timestamp: number | undefined }): Promise<TicketActivity | null> {
    if (idKind(base.approvalId) === 'batch') return null;
    let shown = description;
    if (!isAdfDocument(description)) {
      const read = await config.readIssue(ticketKey);
      if (descriptionChangedSince(read.histories, { historyId: event.changelogId, at: event.timestamp })) return null;
      shown = read.description;
    }
    const id = descriptionEditId(event.changelogId, { issue: event.issue, actor: base.actor, timestamp: event.timestamp, blockHash: descriptionPayload(shown)?.bodyHash });
    return descriptionEditActivity(base, id, shown);
  }

  return {
    secretSetting: 'JIRA_WEBHOOK_SECRET',
    summary: 'Jira webhook, verified by X-Hub-Signature over the raw body',
    deliveryId: (headers) => headers['x-atlassian-webhook-identifier'] || undefined,

    async verify(rawBody, headers) {
      const signature = headers['x-hub-signature'];
      if (!signature) return false;
      return secrets.some((secret) => signatureMatches(secret, rawBody, signature));
    },

    parse(rawBody): ParsedDelivery {
      let payload: DeliveryPayload;
      try {
        payload = parseWebhookJson(rawBody) as DeliveryPayload;
      } catch {
        return { kind: 'ignored', reason: 'body is not JSON' };
      }
      const event = payload.webhookEvent ?? 'unknown';
      const { issue } = payload;
      if (!issue?.key) return { kind: 'ignored', reason: `event ${event} names no issue` };
      const ticketKey = issue.key;
      const labelled = readApprovalLabel(issue.fields?.labels);

      if (event === 'jira:issue_updated') {
        const item = statusChange(payload.changelog?.items);
        const edited = descriptionChange(payload.changelog?.items);
        if (!item && !edited) return { kind: 'ignored', reason: 'issue update changes neither the status nor the description' };
        if (!labelled) return { kind: 'ignored', reason: 'issue was not opened by Countersign (no countersign-apr_… label)' };
        const actor = userId(payload.user);
        if (!actor) return { kind: 'ignored', reason: `${item ? 'status change' : 'description edit'} names no user` };
        const changelogId = payload.changelog?.id;
        const moment: Moment = { historyId: changelogId, at: payload.timestamp };
        return {
          kind: 'ticket',
          event,
          approvalId: labelled,
          ticketKey,
          async activity(project: ProjectMapping): Promise<TicketActivity | null> {
            if (project.provider !== 'jira' || !inProject(project, issue)) return null;
            const self = await config.selfId();
            if (actor === self) return null;
            // Only issues this account opened carry labels we trust; a copied label elsewhere is ignored.
            const creator = userId(issue.fields?.creator);
            if (creator && creator !== self) return null;
            const base = { approvalId: labelled, ticketKey, actor };
            // A move that also edits the description (a transition screen) is read as the move.
            if (item) {
              const id = statusChangeId(changelogId, { issue: issue.id ?? ticketKey, actor, item, timestamp: payload.timestamp });
              return descriptionAt(project, ticketKey, statusActivity(await config.statuses.resolve(project), item, id, base), issue.fields?.description, moment);
            }
            return descriptionEdit(ticketKey, base, issue.fields?.description, { issue: issue.id ?? ticketKey, changelogId, timestamp: payload.timestamp });
          },
        };
      }

      if (event === 'comment_created') {
        const { comment } = payload;
        if (!comment?.id || !isCommand(comment.body)) return { kind: 'ignored', reason: 'comment is not a /approve or /reject command' };
        const actor = userId(comment.author) ?? userId(payload.user);
        if (!actor) return { kind: 'ignored', reason: 'comment names no author' };
        const commentId = comment.id;
        return {
          kind: 'ticket',
          event,
          approvalId: labelled,
          ticketKey,
          async activity(project: ProjectMapping, approvalId: string): Promise<TicketActivity | null> {
            if (project.provider !== 'jira' || !inProject(project, issue)) return null;
            if (actor === (await config.selfId())) return null;
            const created = Date.parse(comment.created ?? '');
            const moment: Moment = { at: Number.isNaN(created) ? payload.timestamp : created };
            return descriptionAt(project, ticketKey, commentActivity(comment.body, commentId, { approvalId, ticketKey, actor }), issue.fields?.description, moment);
          },
        };
      }

      return { kind: 'ignored', reason: `event ${event} is not one Countersign acts on` };
    },
  };
}
