import type { Logger } from 'pino';
import type { DecisionRecord } from '../../db/schema.ts';
import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import type { PendingTicket, ProviderAdapter, ProviderFailure, TicketActivity, TicketRequest, TicketUpdate } from '../provider-adapter.ts';
import { approvalAtMoment, commentActivity, descriptionEditActivity, descriptionEditId, lastDescriptionChange, type Moment, statusActivity, statusChange, statusChangeId, userId } from './jira-activity.ts';
import { isCountersignActor } from '../countersign-actor.ts';
import { fitToLimit } from '../fit-to-limit.ts';
import { approvalLabel, code, COUNTERSIGN_LABEL, doc, isOwnJiraLabel, issueSummary, MAX_RICH_TEXT, mention, paragraph, pendingLabels, readApprovalLabel, renderDescription, requesterBlock, text } from './jira-issue-description.ts';
import type { AdfDocument, AdfNode, JiraIssue, JiraIssuesLike } from './jira-issues-like.ts';
import { failureNetworkCode, failureStatus } from '../provider-failure.ts';
import { createStatusResolver, type JiraProject, type StatusResolver } from './jira-statuses.ts';
import { createJiraWebhooks } from './jira-webhooks.ts';

export interface JiraAdapterConfig {
  webhookSecret: string;
  additionalWebhookSecrets?: string[];
  logger: Logger;
  /** Shared with the webhooks; injected so tests can count or pre-fill status look-ups. */
  statuses?: StatusResolver;
  /** `JIRA_HOST`, named in messages about failed calls. */
  host?: string;
}

/** Comments made this long before an approval was created still count (clock skew between us and Jira). */
const SKEW_MS = 5 * 60_000;
/** Labels per reconciliation search: keeps the JQL short. */
const SEARCH_CHUNK = 50;
const MAX_PAGES = 10;
const RECONCILE_FIELDS = ['status', 'labels', 'creator', 'comment', 'description'];

function jiraProject(project: ProjectMapping): JiraProject {
  if (project.provider !== 'jira') throw new Error(`project ${project.key} is mapped to ${project.provider}, not jira`);
  return project;
}

/** What jira.js's HttpException carries: the HTTP status and Jira's `{errorMessages, errors}` body. */
function jiraError(error: unknown): { status?: number; errors?: Record<string, string> } {
  const response = (error as { response?: { status?: number; data?: { errors?: Record<string, string> } } }).response;
  return { ...(response?.status !== undefined ? { status: response.status } : {}), ...(response?.data?.errors ? { errors: response.data.errors } : {}) };
}

/** `https://site.atlassian.net/rest/api/3/issue/10001` → `https://site.atlassian.net/browse/OPS-1`. */
const browseUrl = (self: string, key: string) => `${new URL(self).origin}/browse/${key}`;

/** A Jira user is mentioned; Countersign itself (`policy`, a grant) is named. */
const person = (id: string): AdfNode => (isCountersignActor(id) ? text(id) : mention(id));
const people = (ids: readonly string[]): AdfNode[] => ids.flatMap((id, i) => (i === 0 ? [person(id)] : [text(', '), person(id)]));

/**
 * The comment on a decided issue. The reason is someone's own text (a reviewer's `/reject`
 * reason, or an API caller's): a code block, trimmed to Jira's comment limit.
 */
function decidedComment(decision: DecisionRecord, approvals: number, required: number, extra: AdfNode[]): AdfDocument {
  let head: AdfNode;
  if (decision.outcome === 'approved') head = paragraph(text('Approved by '), ...people(decision.by), text(`, ${approvals} of ${required} — the agent was notified.`));
  else if (decision.outcome === 'rejected') head = paragraph(text('Rejected by '), ...(decision.by.length > 0 ? people(decision.by) : [text('policy')]), text(' — the agent was notified.'));
  else head = paragraph(text('Expired without a decision — the agent was notified.'));
  if (!decision.reason) return doc(head, ...extra);
  return fitToLimit({
    limit: MAX_RICH_TEXT,
    size: (comment) => JSON.stringify(comment).length,
    payload: '',
    fields: [decision.reason],
    render: (_, [reason]) =>
      doc(head, paragraph(text('Reason:')), requesterBlock(reason!.text), ...(reason!.cut > 0 ? [paragraph(text(`(trimmed: ${reason!.cut.toLocaleString('en-US')} characters; the whole reason is in the approval's audit record)`))] : []), ...extra),
  });
}

/**
 * Approvals as Jira Cloud issues, through jira.js's Version3Client (REST v3).
 *
 * - Creating is one `POST /issue` (summary, ADF description, labels `countersign`,
 *   `countersign-<approvalId>`, the pending and risk labels, assignee = first reviewer). On a
 *   retried job (`attempt > 1`) it first searches `labels = "countersign-<approvalId>"`: issue
 *   properties are not JQL-searchable, labels are.
 * - A decision: one `PUT /issue` that swaps the pending label for the outcome's and returns the
 *   issue (`returnIssue`), so its status is known without another read; a transition only when
 *   the issue is not already in the outcome's status (decided by comments); then one comment.
 *   The idempotent calls go first, so a retried job repeats no comment unless it failed itself.
 * - A refused move is put back through the issue's transitions to the status it came from.
 *
 * @example
 * const adapter = createJiraAdapter(createJiraClient(config.jira, { logger }), { webhookSecret: config.jira.webhookSecret, logger });
 */
export function createJiraAdapter(client: JiraIssuesLike, config: JiraAdapterConfig): ProviderAdapter {
  const statuses = config.statuses ?? createStatusResolver(client);
  let self: Promise<string> | undefined;
  const selfId = () => {
    self ??= client.myself.getCurrentUser().then((user) => {
      const id = userId(user);
      if (!id) throw new Error('GET /rest/api/3/myself returned no accountId; check JIRA_EMAIL and JIRA_API_TOKEN');
      return id;
    });
    // A failed look-up is tried again next time rather than remembered.
    self.catch(() => (self = undefined));
    return self;
  };

  const host = config.host ?? 'JIRA_HOST';

  function describeError(error: unknown, mapping: ProjectMapping): ProviderFailure {
    const project = mapping.provider === 'jira' ? mapping.jira.project : 'the project';
    const code = failureNetworkCode(error);
    if (code) return { reason: 'unreachable', message: `${host} cannot be reached (${code}): check JIRA_HOST and the network` };
    const status = failureStatus(error);
    switch (status) {
      case 401:
        return { reason: 'unauthorized', message: `JIRA_EMAIL / JIRA_API_TOKEN are not accepted by ${host} (401): create an API token for that account at https://id.atlassian.com/manage-profile/security/api-tokens` };
      case 403:
        return { reason: 'forbidden', message: `${host} refused the account of JIRA_EMAIL (403): give it the Browse projects and Create issues permissions in Jira project ${project}` };
      case 404:
        return { reason: 'not_found', message: `Jira project ${project} does not exist on ${host}, or the account of JIRA_EMAIL cannot browse it (404): fix jira.project of project ${mapping.key}, or give the account access` };
      case 400: {
        const fields = Object.keys(jiraError(error).errors ?? {});
        return { reason: 'invalid', message: `${host} refused the issue in ${project} (400${fields.length > 0 ? `, fields: ${fields.join(', ')}` : ''}): check jira.project and jira.issueType of project ${mapping.key}` };
      }
      case 429:
        return { reason: 'rate_limited', message: `${host} rate-limited the account of JIRA_EMAIL (429)` };
      default:
        if (status !== undefined && status >= 500) return { reason: 'unavailable', message: `${host} answered ${status}: Jira is having trouble` };
        // The status resolver's own errors name the missing status and how to fix the mapping.
        if (status === undefined && error instanceof Error && /status/.test(error.message)) return { reason: 'unknown_status', message: error.message };
        return { reason: 'error', message: `a call to ${host} for ${project} failed${status ? ` (${status})` : ''}; the server log has the details` };
    }
  }

  async function search(jql: string, fields: string[], expand?: string): Promise<JiraIssue[]> {
    const found: JiraIssue[] = [];
    let nextPageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const result = await client.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({ jql, fields, maxResults: 100, ...(expand ? { expand } : {}), ...(nextPageToken ? { nextPageToken } : {}) });
      found.push(...(result.issues ?? []));
      nextPageToken = result.nextPageToken;
      if (!nextPageToken) break;
    }
    return found;
  }

  /** Moves the issue to a status through one of its transitions; false when none leads there. */
  async function transitionTo(issueIdOrKey: string, statusId: string): Promise<boolean> {
    const { transitions = [] } = await client.issues.getTransitions({ issueIdOrKey });
    const transition = transitions.find((t) => t.to?.id === statusId);
    if (!transition?.id) return false;
    await client.issues.doTransition({ issueIdOrKey, transition: { id: transition.id } });
    return true;
  }

  return {
    name: 'jira',
    capabilities: { decidesInCountersign: false, updatesTickets: true, webhooks: true, reconciles: true, revertsCountedVotes: true },
    // accountIds (Cloud) are opaque ids, compared exactly after NFKC and trim.
    identities: { caseInsensitive: false },
    ownsLabel: isOwnJiraLabel,
    describeError,

    /** `GET /myself` (credentials), the project's statuses per issue type (project and issue type exist), then the mapping's statuses resolved to ids. */
    async checkProject(mapping) {
      const project = jiraProject(mapping);
      const { jira } = project;
      try {
        await client.myself.getCurrentUser();
        const types = await client.projects.getAllStatuses({ projectIdOrKey: jira.project });
        if (!types.some((type) => type.name.toLowerCase() === jira.issueType.toLowerCase())) {
          const known = types.map((type) => type.name).join(', ') || 'none';
          return [{ reason: 'unknown_issue_type', message: `Jira project ${jira.project} has no issue type "${jira.issueType}" (its types: ${known}): fix jira.issueType of project ${project.key}` }];
        }
        await statuses.resolve(project);
        return [];
      } catch (error) {
        return [describeError(error, project)];
      }
    },

    async postReport(destination, report) {
      const { project, issueType } = destination;
      if (!project) throw new Error('review.post.jira needs project');
      const cut = report.text.length > MAX_RICH_TEXT - 100 ? `${report.text.slice(0, MAX_RICH_TEXT - 200)}\n… (cut: run countersign audit review for the whole report)` : report.text;
      const created = await client.issues.createIssue({
        fields: {
          project: { key: project },
          issuetype: { name: issueType ?? 'Task' },
          summary: issueSummary(report.title),
          description: doc({ type: 'codeBlock', attrs: {}, content: [text(cut)] }),
          labels: [COUNTERSIGN_LABEL, 'countersign-review'],
        },
      });
      return { provider: 'jira', key: created.key, url: browseUrl(created.self, created.key) };
    },

    async createTicket(request: TicketRequest) {
      const project = jiraProject(request.project);
      // Resolved (and cached) before any issue exists: a mapping naming a status the workflow
      // lacks fails here, loudly, instead of opening issues no status move can decide.
      await statuses.resolve(project);
      const label = approvalLabel(request.approvalId);
      if ((request.attempt ?? 1) > 1) {
        const [existing] = await search(`labels = "${label}" ORDER BY created ASC`, ['labels']);
        if (existing?.self) {
          config.logger.info({ approvalId: request.approvalId, issue: existing.key }, 'found the issue an earlier attempt opened');
          return { provider: 'jira', key: existing.key, url: browseUrl(existing.self, existing.key) };
        }
      }
      const fields = {
        project: { key: project.jira.project },
        issuetype: { name: project.jira.issueType },
        summary: issueSummary(request.summary),
        description: renderDescription(request),
        labels: [COUNTERSIGN_LABEL, label, ...pendingLabels(project, request)],
      };
      const assignee = request.reviewers[0];
      let created;
      try {
        created = await client.issues.createIssue({ fields: assignee ? { ...fields, assignee: { accountId: assignee } } : fields });
      } catch (error) {
        // A reviewer who cannot be assigned (not in the project, or a Data Center name) must not block the approval.
        const { status, errors } = jiraError(error);
        if (!assignee || status !== 400 || !errors?.assignee) throw error;
        config.logger.warn({ approvalId: request.approvalId, assignee, jiraError: errors.assignee }, 'Jira refused the assignee; creating the issue unassigned');
        created = await client.issues.createIssue({ fields });
      }
      return { provider: 'jira', key: created.key, url: browseUrl(created.self, created.key) };
    },

    async updateTicket(ticket, mapping, update: TicketUpdate) {
      const project = jiraProject(mapping);
      const issueIdOrKey = ticket.key;
      const { pending } = project.labels;
      if (update.kind === 'decided') {
        const { outcome } = update.decision;
        const outcomeLabel = outcome === 'approved' ? project.labels.approved : outcome === 'rejected' ? project.labels.rejected : 'expired';
        const issue = (await client.issues.editIssue({ issueIdOrKey, update: { labels: [{ remove: pending }, { add: outcomeLabel }] }, returnIssue: true, notifyUsers: false })) as JiraIssue | undefined;
        const extra: AdfNode[] = [];
        if (outcome !== 'expired') {
          const resolved = await statuses.resolve(project);
          const target = outcome === 'approved' ? resolved.approvedId : resolved.rejectedId;
          if (issue?.fields?.status?.id !== target && !(await transitionTo(issueIdOrKey, target))) {
            config.logger.warn({ ticket: ticket.key, target }, 'no transition leads to the outcome status');
            extra.push(paragraph(text(`No transition leads to ${resolved.names.get(target) ?? target} from here; move the issue by hand.`)));
          }
        }
        await client.issueComments.addComment({ issueIdOrKey, comment: decidedComment(update.decision, update.approvals, update.required, extra) });
      } else if (update.kind === 'cancelled') {
        await client.issues.editIssue({ issueIdOrKey, update: { labels: [{ remove: pending }, { add: 'cancelled' }] }, notifyUsers: false });
        await client.issueComments.addComment({ issueIdOrKey, comment: doc(paragraph(text('Withdrawn: the agent cancelled this request before it was decided.'))) });
      } else if (update.kind === 'escalated') {
        // Jira has one assignee: the tier's first reviewer; the others are mentioned.
        const [first] = update.reviewers;
        await client.issues.editIssue({ issueIdOrKey, ...(first ? { fields: { assignee: { accountId: first } } } : {}), update: { labels: [{ add: `escalated:${update.tier}` }] }, notifyUsers: false });
        await client.issueComments.addComment({
          issueIdOrKey,
          comment: doc(paragraph(...(update.by ? [text(`Escalated (tier ${update.tier}): `), person(update.by), text(' asked to escalate.')] : [text(`Escalated (tier ${update.tier}): no decision within the SLA.`)]), ...(first ? [text(' '), ...people(update.reviewers), text(', please review.')] : []))),
        });
      } else if (update.kind === 'edited') {
        await client.issues.editIssue({ issueIdOrKey, fields: { description: renderDescription(update.ticket) }, notifyUsers: false });
      } else {
        const resolved = await statuses.resolve(project);
        const lines: AdfNode[] = [paragraph(person(update.actor), text(`: ${update.reason}.`))];
        if (update.revert?.startsWith('status:')) {
          const back = update.revert.slice('status:'.length);
          const name = resolved.names.get(back) ?? back;
          lines.push(paragraph(text((await transitionTo(issueIdOrKey, back)) ? `The issue was moved back to ${name}.` : `The issue could not be moved back to ${name}: no transition leads there.`)));
        }
        lines.push(
          paragraph(
            text('Reviewers decide by moving the issue to '),
            code(resolved.names.get(resolved.approvedId) ?? project.jira.approvedStatus),
            text(' or '),
            code(resolved.names.get(resolved.rejectedId) ?? project.jira.rejectedStatus),
            text(', or by commenting '),
            code('/approve'),
            text(' or '),
            code('/reject <reason>'),
            text('.'),
          ),
        );
        await client.issueComments.addComment({ issueIdOrKey, comment: doc(...lines) });
      }
    },

    webhooks: createJiraWebhooks({
      secret: config.webhookSecret,
      ...(config.additionalWebhookSecrets ? { additionalSecrets: config.additionalWebhookSecrets } : {}),
      selfId,
      statuses,
      readIssue: async (issueIdOrKey) => {
        const issue = await client.issues.getIssue({ issueIdOrKey, fields: ['description'], expand: 'changelog' });
        return { description: issue.fields.description, histories: issue.changelog?.histories ?? [] };
      },
    }),

    /**
     * One search per 50 pending approvals (`labels in (countersign-apr_…)`, with the status,
     * the comments and the changelog): an issue sitting in the approved or rejected status
     * yields the latest move into it (who moved it, from where), and `/approve` / `/reject`
     * comments yield votes. Both carry Jira's ids, so what a webhook already applied is skipped.
     */
    async reconcile(tickets: PendingTicket[]): Promise<TicketActivity[]> {
      const pending = tickets.filter((t) => t.project.provider === 'jira');
      if (pending.length === 0) return [];
      const me = await selfId();
      const activities: TicketActivity[] = [];
      for (let i = 0; i < pending.length; i += SEARCH_CHUNK) {
        const chunk = pending.slice(i, i + SEARCH_CHUNK);
        const labels = chunk.map((t) => `"${approvalLabel(t.approvalId)}"`).join(', ');
        const issues = await search(`labels in (${labels})`, RECONCILE_FIELDS, 'changelog');
        const byKey = new Map(issues.map((issue) => [issue.key, issue]));
        for (const ticket of chunk) {
          // Only the stored issue speaks for the approval. Another one with its label would be a
          // second issue opened when the search after a crash missed the first (the JQL index lags).
          const issue = byKey.get(ticket.ticket.key);
          const strays = issues.filter((other) => other.key !== ticket.ticket.key && readApprovalLabel(other.fields.labels) === ticket.approvalId);
          if (strays.length > 0) config.logger.warn({ approvalId: ticket.approvalId, ticket: ticket.ticket.key, others: strays.map((other) => other.key) }, 'more than one Jira issue carries this approval; only the stored one counts');
          if (!issue || readApprovalLabel(issue.fields.labels) !== ticket.approvalId) continue;
          const creator = userId(issue.fields.creator);
          if (creator && creator !== me) continue;
          const project = jiraProject(ticket.project);
          const base = { approvalId: ticket.approvalId, ticketKey: issue.key };
          const histories = issue.changelog?.histories ?? [];
          const description = issue.fields.description;
          // The description as it is now is the latest edit's: read first, so an approval that follows is matched to it.
          const edit = lastDescriptionChange(histories);
          const editor = userId(edit?.author);
          if (edit?.id && editor && editor !== me) {
            const activity = descriptionEditActivity({ ...base, actor: editor }, descriptionEditId(edit.id, { issue: issue.id, actor: editor, timestamp: undefined, blockHash: undefined }), description);
            if (activity) activities.push(activity);
          }
          const atMoment = (activity: TicketActivity | null, moment: Moment) => approvalAtMoment(activity, { description, histories, moment });
          const resolved = await statuses.resolve(project);
          const status = issue.fields.status?.id;
          if (status === resolved.approvedId || status === resolved.rejectedId) {
            const histories = [...(issue.changelog?.histories ?? [])].sort((a, b) => Date.parse(a.created ?? '') - Date.parse(b.created ?? ''));
            for (const history of histories.reverse()) {
              const item = statusChange(history.items);
              if (item?.to !== status) continue;
              const actor = userId(history.author);
              if (actor && actor !== me) {
                const activity = atMoment(statusActivity(resolved, item, statusChangeId(history.id, { issue: issue.id, actor, item, timestamp: undefined }), { ...base, actor }), { historyId: history.id, at: Date.parse(history.created ?? '') });
                if (activity) activities.push(activity);
              }
              break;
            }
          }
          const since = ticket.createdAt.getTime() - SKEW_MS;
          for (const comment of issue.fields.comment?.comments ?? []) {
            const actor = userId(comment.author);
            if (!actor || actor === me || !comment.id || Date.parse(comment.created ?? '') < since) continue;
            const activity = atMoment(commentActivity(comment.body, comment.id, { ...base, actor }), { at: Date.parse(comment.created ?? '') });
            if (activity) activities.push(activity);
          }
        }
      }
      return activities;
    },
  };
}
