import { verifyWithFallback } from '@octokit/webhooks-methods';
import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import { parseWebhookJson } from '../parse-webhook-json.ts';
import type { ParsedDelivery, ProviderWebhooks, TicketActivity } from '../provider-adapter.ts';
import { commentActivity } from '../comment-command.ts';
import { sameIdentity } from '../../primitives/identity-key.ts';
import { bodyEditActivity, closeActivity, GITHUB_IDENTITIES, labelActivity, withIssueBody } from './github-activity.ts';
import { readApprovalMarker } from './github-issue-body.ts';
import { issueKey, sameRepo } from './github-ticket-key.ts';

export interface GitHubWebhooksConfig {
  secret: string;
  /** Older secrets still accepted while a rotation is under way. */
  additionalSecrets?: string[];
  /** The service's own login (`user` or `app-slug[bot]`): its events are its own doing, never a reviewer's. */
  selfLogin: () => Promise<string>;
}

interface IssuePayload {
  number: number;
  body?: string | null;
  user?: { login: string } | null;
  pull_request?: unknown;
  state_reason?: string | null;
  updated_at?: string | null;
  closed_at?: string | null;
}
interface DeliveryPayload {
  action?: string;
  issue?: IssuePayload;
  label?: { name: string };
  comment?: { id: number; body?: string; user?: { login: string } | null };
  /** On `issues.edited`: what changed (`body`, `title`), with the old values. */
  changes?: { body?: { from: string } };
  repository?: { name: string; owner: { login: string } };
  sender?: { login: string };
}

/**
 * `POST /webhooks/github` without a web framework: `X-Hub-Signature-256` checked with
 * `@octokit/webhooks-methods` over the raw body string (before JSON.parse), `X-GitHub-Delivery` as the
 * dedup key, and the Issues / Issue comments events read into ticket activities.
 */
export function createGitHubWebhooks(config: GitHubWebhooksConfig): ProviderWebhooks {

  return {
    secretSetting: 'GITHUB_WEBHOOK_SECRET',
    summary: 'GitHub webhook, verified by X-Hub-Signature-256 over the raw body',
    deliveryId: (headers) => headers['x-github-delivery'] || undefined,

    async verify(rawBody, headers) {
      const signature = headers['x-hub-signature-256'];
      if (!signature) return false;
      try {
        // `Webhooks#verify` checks only the main secret; the fallback also tries the ones being rotated out.
        return (await verifyWithFallback(config.secret, rawBody, signature, config.additionalSecrets)) === true;
      } catch {
        return false;
      }
    },

    parse(rawBody, headers): ParsedDelivery {
      const event = headers['x-github-event'];
      let payload: DeliveryPayload;
      try {
        payload = parseWebhookJson(rawBody) as DeliveryPayload;
      } catch {
        return { kind: 'ignored', reason: 'body is not JSON' };
      }
      if (event === 'ping') return { kind: 'ping' };
      // `X-GitHub-Event` is not signed: the body must be what the header says it is, so a signed
      // body cannot be replayed as another event type.
      if ((event === 'issue_comment') !== (payload.comment !== undefined)) return { kind: 'ignored', reason: `the body does not match X-GitHub-Event ${event ?? '(none)'}` };
      const bodyEdited = event === 'issues' && payload.action === 'edited' && payload.changes?.body !== undefined;
      const handled = (event === 'issues' && (payload.action === 'labeled' || payload.action === 'closed')) || bodyEdited || (event === 'issue_comment' && payload.action === 'created');
      if (!handled) return { kind: 'ignored', reason: `event ${event}${payload.action ? `.${payload.action}` : ''} is not one Countersign acts on` };
      const { issue, repository, sender } = payload;
      if (!issue || !repository || !sender) return { kind: 'ignored', reason: 'payload has no issue, repository or sender' };
      if (issue.pull_request) return { kind: 'ignored', reason: 'pull requests are not approval tickets' };
      const approvalId = readApprovalMarker(issue.body);
      if (!approvalId) return { kind: 'ignored', reason: 'issue was not opened by Countersign (no marker)' };
      const repo = { owner: repository.owner.login, repo: repository.name };
      const ticketKey = issueKey(repo.owner, repo.repo, issue.number);

      return {
        kind: 'ticket',
        event,
        approvalId,
        ticketKey,
        async activity(project: ProjectMapping): Promise<TicketActivity | null> {
          if (project.provider !== 'github' || !sameRepo(project.github, repo)) return null;
          const self = await config.selfLogin();
          // Only issues this account opened carry markers we trust; a copied marker elsewhere is ignored.
          if (!issue.user || !sameIdentity(issue.user.login, self, GITHUB_IDENTITIES)) return null;
          const actor = (payload.action === 'created' ? payload.comment?.user?.login : undefined) ?? sender.login;
          if (sameIdentity(actor, self, GITHUB_IDENTITIES)) return null;
          const base = { approvalId, ticketKey, actor };
          // A label event's time is the issue's `updated_at` in the same signed body.
          if (payload.action === 'labeled') return payload.label ? withIssueBody(labelActivity(project, payload.label.name, base, issue.updated_at), issue.body) : null;
          if (payload.action === 'closed') return closeActivity(issue.state_reason, base, issue.closed_at ?? issue.updated_at);
          if (payload.action === 'edited') return bodyEditActivity(base, issue.body, issue.updated_at);
          return payload.comment ? withIssueBody(commentActivity(payload.comment.body, payload.comment.id, base), issue.body) : null;
        },
      };
    },
  };
}
