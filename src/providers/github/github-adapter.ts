import type { Logger } from 'pino';
import type { DecisionRecord } from '../../db/schema.ts';
import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import type { PendingTicket, ProviderAdapter, ProviderFailure, TicketActivity, TicketRequest, TicketUpdate } from '../provider-adapter.ts';
import { commentActivity } from '../comment-command.ts';
import { failureNetworkCode, failureStatus } from '../provider-failure.ts';
import { closeActivity, GITHUB_IDENTITIES, isOwnGitHubLabel, labelActivity, withIssueBody } from './github-activity.ts';
import { issueTitle, MAX_BODY, pendingLabels, readApprovalMarker, renderIssueBody } from './github-issue-body.ts';
import { codeBlock, requesterBlock, requesterSpan } from './github-markdown.ts';
import { isCountersignActor } from '../countersign-actor.ts';
import { fitToLimit } from '../fit-to-limit.ts';
import { issueKey, parseIssueKey, sameRepo } from './github-ticket-key.ts';
import { createGitHubWebhooks } from './github-webhooks.ts';
import type { GitHubIssue, GitHubIssueEvent, OctokitIssuesLike } from './octokit-issues-like.ts';

export interface GitHubAdapterConfig {
  webhookSecret: string;
  additionalWebhookSecrets?: string[];
  /** How the client authenticates: a token acts as its user, an App installation as `slug[bot]`. */
  auth: 'token' | 'app';
  logger: Logger;
  /** `GITHUB_API_URL`, named in messages about failed calls. */
  apiUrl?: string;
}

/** Issues updated this long before an approval was created still count (clock skew between us and GitHub). */
const SKEW_MS = 5 * 60_000;
const PER_PAGE = 100;
const MAX_PAGES = 10;

type GitHubProject = Extract<ProjectMapping, { provider: 'github' }>;

function githubProject(project: ProjectMapping): GitHubProject {
  if (project.provider !== 'github') throw new Error(`project ${project.key} is mapped to ${project.provider}, not github`);
  return project;
}

const labelNames = (issue: GitHubIssue) => issue.labels.map((label) => (typeof label === 'string' ? label : label.name)).filter((name): name is string => !!name);

/** A GitHub login: letters, digits, single hyphens. Anything else is no one to notify. */
const LOGIN = /^[a-z\d](?:[a-z\d]|-(?=[a-z\d])){0,38}$/i;
const person = (actor: string) => (LOGIN.test(actor) && !isCountersignActor(actor) ? `@${actor}` : requesterSpan(actor));

/**
 * The comment on a decided issue. The reason is someone's own text (a reviewer's `/reject`
 * reason, or an API caller's): quoted as a code block, so Countersign's comment never renders it
 * as Markdown, mentions or references, and trimmed to GitHub's comment limit.
 */
function decidedComment(decision: DecisionRecord, approvals: number, required: number): string {
  const who = decision.by.map(person).join(', ');
  const head = decision.outcome === 'approved' ? `Approved by ${who}, ${approvals} of ${required} — agent notified.` : decision.outcome === 'rejected' ? `Rejected by ${who || 'policy'} — agent notified.` : 'Expired without a decision — agent notified.';
  if (!decision.reason) return head;
  return fitToLimit({
    limit: MAX_BODY,
    size: (body) => body.length,
    payload: '',
    fields: [decision.reason],
    render: (_, [reason]) => [head, '', 'Reason:', '', requesterBlock(reason!.text), ...(reason!.cut > 0 ? [`_(trimmed: ${reason!.cut.toLocaleString('en-US')} characters; the whole reason is in the approval's audit record)_`] : [])].join('\n'),
  });
}

/**
 * Approvals as GitHub issues.
 *
 * - Creating is one `issues.create` (title, body with a hidden `<!-- countersign:apr_… -->`
 *   marker, labels, assignees). On a retried job (`attempt > 1`) it first looks for the issue an
 *   interrupted attempt opened: one `issues.listForRepo` filtered by creator = this account,
 *   state all, updated since the approval was created, newest first, scanning bodies for the
 *   marker. Not the search API: its index lags by seconds to minutes (a retry 2 s later would
 *   miss the issue), it has a 30/min limit, and on GitHub Enterprise Server it depends on the
 *   search index being healthy. The list endpoint reads the database, the same on GHES.
 * - A decision is two calls: one `issues.update` that closes (`completed` / `not_planned`) and
 *   swaps the labels in the same request, then one comment. The idempotent call goes first, so
 *   a retried job repeats no comment unless the comment itself failed.
 *
 * @example
 * const adapter = createGitHubAdapter(createGitHubClient(config.github, { logger }), { webhookSecret, auth: 'token', logger });
 */
export function createGitHubAdapter(client: OctokitIssuesLike, config: GitHubAdapterConfig): ProviderAdapter {
  let self: Promise<string> | undefined;
  const selfLogin = () => {
    self ??= (async () => {
      if (config.auth === 'app') {
        const { data } = await client.apps.getAuthenticated();
        if (!data?.slug) throw new Error('GitHub App has no slug; check GITHUB_APP_ID');
        return `${data.slug}[bot]`;
      }
      return (await client.users.getAuthenticated()).data.login;
    })();
    // A failed look-up is tried again next time rather than remembered.
    self.catch(() => (self = undefined));
    return self;
  };

  async function findByMarker(project: GitHubProject, approvalId: string, createdAt: Date | undefined): Promise<GitHubIssue | undefined> {
    const { owner, repo } = project.github;
    const creator = await selfLogin();
    const since = new Date((createdAt ?? new Date(0)).getTime() - SKEW_MS);
    for (let page = 1; page <= MAX_PAGES; page++) {
      const { data } = await client.issues.listForRepo({ owner, repo, creator, state: 'all', since: since.toISOString(), sort: 'created', direction: 'desc', per_page: PER_PAGE, page });
      for (const issue of data) if (!issue.pull_request && readApprovalMarker(issue.body) === approvalId) return issue;
      const oldest = data.at(-1);
      if (data.length < PER_PAGE || (oldest && new Date(oldest.created_at) < since)) return undefined;
    }
    return undefined;
  }

  const apiUrl = config.apiUrl ?? 'https://api.github.com';
  const credential = config.auth === 'token' ? 'GITHUB_TOKEN' : 'the GitHub App installation (GITHUB_APP_ID, GITHUB_INSTALLATION_ID)';
  const grant = config.auth === 'token' ? 'create a token with Issues read & write' : 'install the App with Issues read & write';

  function describeError(error: unknown, mapping: ProjectMapping): ProviderFailure {
    const repo = mapping.provider === 'github' ? `${mapping.github.owner}/${mapping.github.repo}` : 'the repository';
    const code = failureNetworkCode(error);
    if (code) return { reason: 'unreachable', message: `${apiUrl} cannot be reached (${code}): check GITHUB_API_URL and the network` };
    const status = failureStatus(error);
    switch (status) {
      case 401:
        return { reason: 'unauthorized', message: `${credential} is not accepted by ${apiUrl} (401): ${grant} on ${repo}` };
      case 403:
        return { reason: 'forbidden', message: `${apiUrl} refused ${credential} access to ${repo} (403): ${grant} on ${repo}` };
      case 404:
        return { reason: 'not_found', message: `repository ${repo} does not exist on ${apiUrl}, or ${credential} cannot see it (404): fix github.owner / github.repo of project ${mapping.key}, or ${grant} on it` };
      case 410:
        return { reason: 'issues_disabled', message: `issues are turned off on ${repo} (410): turn on Issues in the repository's settings` };
      case 422:
        return { reason: 'invalid', message: `${apiUrl} refused the issue for ${repo} (422): check that the reviewers of project ${mapping.key} can be assigned there` };
      case 429:
        return { reason: 'rate_limited', message: `${apiUrl} rate-limited ${credential} (429)` };
      default:
        if (status !== undefined && status >= 500) return { reason: 'unavailable', message: `${apiUrl} answered ${status}: GitHub is having trouble` };
        return { reason: 'error', message: `a call to ${apiUrl} for ${repo} failed${status ? ` (${status})` : ''}; the server log has the details` };
    }
  }

  async function removeLabel(ref: ReturnType<typeof parseIssueKey>, name: string) {
    try {
      await client.issues.removeLabel({ ...ref, name });
    } catch (error) {
      // Already gone (removed by someone, or by an earlier try of this job).
      if ((error as { status?: number }).status !== 404) throw error;
    }
  }

  return {
    name: 'github',
    capabilities: { decidesInCountersign: false, updatesTickets: true, webhooks: true, reconciles: true, revertsCountedVotes: false },
    // GitHub logins are case-insensitive: `Alice` and `alice` are one account.
    identities: GITHUB_IDENTITIES,
    ownsLabel: isOwnGitHubLabel,
    describeError,

    /** Two calls: who the credentials are (`GET /user` or `GET /app`), then one page of the repository's issues (404 unknown, 410 issues off). */
    async checkProject(mapping) {
      const project = githubProject(mapping);
      const { owner, repo } = project.github;
      try {
        await selfLogin();
        await client.issues.listForRepo({ owner, repo, state: 'all', per_page: 1 });
        return [];
      } catch (error) {
        return [describeError(error, project)];
      }
    },

    async postReport(destination, report) {
      const { owner, repo } = destination;
      if (!owner || !repo) throw new Error('review.post.github needs owner and repo');
      // Fenced whole, so no line of the report is read as Markdown.
      const cut = report.text.length > MAX_BODY - 100 ? `${report.text.slice(0, MAX_BODY - 200)}\n… (cut: run countersign audit review for the whole report)` : report.text;
      const { data } = await client.issues.create({ owner, repo, title: report.title.slice(0, 256), body: codeBlock(cut) });
      return { provider: 'github', key: issueKey(owner, repo, data.number), url: data.html_url };
    },

    async createTicket(request: TicketRequest) {
      const project = githubProject(request.project);
      const { owner, repo } = project.github;
      if ((request.attempt ?? 1) > 1) {
        const existing = await findByMarker(project, request.approvalId, request.createdAt);
        if (existing) {
          config.logger.info({ approvalId: request.approvalId, issue: existing.number }, 'found the issue an earlier attempt opened');
          return { provider: 'github', key: issueKey(owner, repo, existing.number), url: existing.html_url };
        }
      }
      const { data } = await client.issues.create({
        owner,
        repo,
        title: issueTitle(request.summary),
        body: renderIssueBody(request),
        labels: pendingLabels(project, request),
        assignees: request.reviewers,
      });
      return { provider: 'github', key: issueKey(owner, repo, data.number), url: data.html_url };
    },

    async updateTicket(ticket, mapping, update: TicketUpdate) {
      const project = githubProject(mapping);
      const ref = parseIssueKey(ticket.key);
      const base = update.request ? pendingLabels(project, update.request).filter((label) => label !== project.labels.pending) : [];
      if (update.kind === 'decided') {
        const { outcome } = update.decision;
        const outcomeLabel = outcome === 'approved' ? [project.labels.approved] : outcome === 'rejected' ? [project.labels.rejected] : [];
        await client.issues.update({ ...ref, state: 'closed', state_reason: outcome === 'approved' ? 'completed' : 'not_planned', labels: [...new Set([...base, ...outcomeLabel])] });
        await client.issues.createComment({ ...ref, body: decidedComment(update.decision, update.approvals, update.required) });
      } else if (update.kind === 'cancelled') {
        await client.issues.update({ ...ref, state: 'closed', state_reason: 'not_planned', labels: base });
        await client.issues.createComment({ ...ref, body: 'Withdrawn: the agent cancelled this request before it was decided.' });
      } else if (update.kind === 'escalated') {
        if (update.reviewers.length > 0) await client.issues.addAssignees({ ...ref, assignees: update.reviewers });
        await client.issues.addLabels({ ...ref, labels: [`escalated:${update.tier}`] });
        const who = update.reviewers.map(person).join(' ');
        await client.issues.createComment({ ...ref, body: `Escalated (tier ${update.tier}): ${update.by ? `${person(update.by)} asked to escalate` : 'no decision within the SLA'}.${who ? ` ${who}, please review.` : ''}` });
      } else if (update.kind === 'edited') {
        // The body shows the payload as it now stands, in Countersign's own canonical form.
        await client.issues.update({ ...ref, body: renderIssueBody(update.ticket) });
      } else {
        if (update.revert?.startsWith('label:')) await removeLabel(ref, update.revert.slice('label:'.length));
        else if (update.revert === 'reopen') await client.issues.update({ ...ref, state: 'open' });
        const undone = update.revert === 'reopen' ? ' The issue has been reopened.' : update.revert ? ' The label has been removed.' : '';
        await client.issues.createComment({
          ...ref,
          body: `${person(update.actor)}: not counted — ${update.reason}.${undone}\n\nReviewers decide with the \`${project.labels.approved}\` / \`${project.labels.rejected}\` labels or a \`/approve\` / \`/reject <reason>\` comment.`,
        });
      }
    },

    webhooks: createGitHubWebhooks({
      secret: config.webhookSecret,
      ...(config.additionalWebhookSecrets ? { additionalSecrets: config.additionalWebhookSecrets } : {}),
      selfLogin,
    }),

    /**
     * Per repository one `issues.listForRepo` (this account's issues updated since the oldest
     * pending approval). Only for a pending issue showing something to act on: its events when
     * it carries a decision label or is closed (who labeled, who closed), its comments when it
     * has any.
     */
    async reconcile(tickets: PendingTicket[]): Promise<TicketActivity[]> {
      const activities: TicketActivity[] = [];
      const byRepo = new Map<string, { project: GitHubProject; tickets: PendingTicket[] }>();
      for (const ticket of tickets) {
        if (ticket.project.provider !== 'github') continue;
        const { owner, repo } = ticket.project.github;
        const key = `${owner}/${repo}`.toLowerCase();
        const group = byRepo.get(key) ?? { project: ticket.project, tickets: [] };
        group.tickets.push(ticket);
        byRepo.set(key, group);
      }
      if (byRepo.size === 0) return activities;
      const creator = await selfLogin();

      for (const { project, tickets: pending } of byRepo.values()) {
        const { owner, repo } = project.github;
        const oldest = Math.min(...pending.map((t) => t.createdAt.getTime())) - SKEW_MS;
        const issues = new Map<number, GitHubIssue>();
        for (let page = 1; page <= MAX_PAGES; page++) {
          const { data } = await client.issues.listForRepo({ owner, repo, creator, state: 'all', since: new Date(oldest).toISOString(), sort: 'updated', direction: 'desc', per_page: PER_PAGE, page });
          for (const issue of data) issues.set(issue.number, issue);
          if (data.length < PER_PAGE) break;
        }
        for (const ticket of pending) {
          const ref = parseIssueKey(ticket.ticket.key);
          if (!sameRepo(ref, project.github)) continue;
          const issue = issues.get(ref.issue_number);
          if (!issue || readApprovalMarker(issue.body) !== ticket.approvalId) continue;
          const tp = githubProject(ticket.project);
          const base = { approvalId: ticket.approvalId, ticketKey: ticket.ticket.key };
          const labels = labelNames(issue);
          const decisionLabels = [tp.labels.approved, tp.labels.rejected].filter((label) => labels.includes(label));
          if (decisionLabels.length > 0 || issue.state === 'closed') {
            const events: GitHubIssueEvent[] = [];
            for (let page = 1; page <= MAX_PAGES; page++) {
              const { data } = await client.issues.listEvents({ ...ref, per_page: PER_PAGE, page });
              events.push(...data);
              if (data.length < PER_PAGE) break;
            }
            for (const label of decisionLabels) {
              const labeled = [...events].reverse().find((e) => e.event === 'labeled' && e.label?.name === label);
              const actor = labeled?.actor?.login;
              if (labeled && actor && actor !== creator) {
                const activity = withIssueBody(labelActivity(tp, label, { ...base, actor }, labeled.created_at), issue.body);
                if (activity) activities.push(activity);
              }
            }
            if (issue.state === 'closed') {
              const closed = [...events].reverse().find((e) => e.event === 'closed');
              const actor = closed?.actor?.login;
              const activity = closed && actor && actor !== creator ? closeActivity(issue.state_reason ?? closed.state_reason, { ...base, actor }, closed.created_at) : null;
              if (activity) activities.push(activity);
            }
          }
          if (issue.comments > 0) {
            for (let page = 1; page <= MAX_PAGES; page++) {
              const { data } = await client.issues.listComments({ ...ref, since: new Date(ticket.createdAt.getTime() - SKEW_MS).toISOString(), per_page: PER_PAGE, page });
              for (const comment of data) {
                const actor = comment.user?.login;
                if (!actor || actor === creator) continue;
                const activity = withIssueBody(commentActivity(comment.body, comment.id, { ...base, actor }), issue.body);
                if (activity) activities.push(activity);
              }
              if (data.length < PER_PAGE) break;
            }
          }
        }
      }
      return activities;
    },
  };
}
