import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import { identityKey, type IdentityRules } from '../../primitives/identity-key.ts';
import type { TicketActivity } from '../provider-adapter.ts';
import { idKind } from '../../primitives/ids.ts';
import { readPayloadBlock, readTickedItems } from './github-issue-body.ts';
import { sha256Hex } from '../../primitives/canonical-json.ts';

type Base = Pick<TicketActivity, 'approvalId' | 'ticketKey' | 'actor'>;

/** GitHub logins are case-insensitive: `Alice` and `alice` are one account. */
export const GITHUB_IDENTITIES: IdentityRules = { caseInsensitive: true };

/**
 * The id of a label or close event, which GitHub gives no id of its own in the webhook (and
 * `X-GitHub-Delivery` is not signed): the issue, what happened, who did it and when, all read
 * from the signed body (`issue.updated_at` / `closed_at`) or from the issue's events
 * (`created_at`) — GitHub stamps both with the event's time, to the second, so the webhook and
 * reconciliation name one event alike. `undefined` when the time is missing or unreadable:
 * such an event cannot be told from its own replay and is not acted on.
 */
export function githubEventId(what: string, base: Pick<Base, 'ticketKey' | 'actor'>, at: string | null | undefined): string | undefined {
  const time = at ? Date.parse(at) : Number.NaN;
  if (Number.isNaN(time)) return undefined;
  const second = new Date(Math.floor(time / 1000) * 1000).toISOString();
  return `${what}:${base.ticketKey}:${identityKey(base.actor, GITHUB_IDENTITIES)}:${second}`;
}

/** Labels Countersign itself sets and reads: adding one by hand is not a label rule input. */
const OWN_LABEL = /^(?:escalated:\d+|risk:(?:low|medium|high))$/;

/** Whether a label is one of those GitHub issues carry as Countersign's bookkeeping (`ProviderAdapter.ownsLabel`). */
export const isOwnGitHubLabel = (label: string) => OWN_LABEL.test(label);

/**
 * A label added by someone. The mapping's approved or rejected label is a vote, undone by
 * removing the label if refused; any other (`escalate`, or one the label rules match on) is
 * `labeled`, except the labels Countersign manages itself (pending, `escalated:N`, `risk:*`).
 */
export function labelActivity(project: ProjectMapping, label: string, base: Base, at: string | null | undefined): TicketActivity | null {
  const id = githubEventId(`labeled:${label}`, base, at);
  if (!id) return null;
  if (label === project.labels.approved) return { ...base, id, kind: 'approve', reason: null, revert: `label:${label}` };
  if (label === project.labels.rejected) return { ...base, id, kind: 'reject', reason: null, revert: `label:${label}` };
  if (label === project.labels.pending || OWN_LABEL.test(label)) return null;
  return { ...base, id, kind: 'labeled', reason: null, label, revert: `label:${label}` };
}

/**
 * What the body said at the moment of the activity (the webhook's `issue.body`, or the body
 * reconciliation reads). On a batch issue, an approval covers only the items still ticked then:
 * the others are excluded. On a single approval's issue, an approval and an edit carry the
 * payload block as it read, so an edited payload is seen (and judged) in the core.
 */
export function withIssueBody(activity: TicketActivity | null, body: string | null | undefined): TicketActivity | null {
  if (!activity || (activity.kind !== 'approve' && activity.kind !== 'edited')) return activity;
  if (idKind(activity.approvalId) === 'batch') return activity.kind === 'approve' ? { ...activity, selected: readTickedItems(body) } : null;
  const text = readPayloadBlock(body);
  return text === undefined ? activity : { ...activity, ticketPayload: { text, bodyHash: bodyHash(body) } };
}

const bodyHash = (body: string | null | undefined) => sha256Hex(body ?? '');

/** Someone changed the issue's body (`issues.edited` with `changes.body`): told apart by the body it left. */
export function bodyEditActivity(base: Base, body: string | null | undefined, at: string | null | undefined): TicketActivity | null {
  const id = githubEventId(`edited:${bodyHash(body)}`, base, at);
  return id ? withIssueBody({ ...base, id, kind: 'edited', reason: null }, body) : null;
}

/**
 * A pending issue closed by hand. Closed as "not planned" it is a rejection (refused, and the
 * issue reopened, unless the closer is a reviewer); closed any other way it decides nothing
 * and is reopened with a comment.
 */
export function closeActivity(stateReason: string | null | undefined, base: Base, at: string | null | undefined): TicketActivity | null {
  const id = githubEventId('closed', base, at);
  if (!id) return null;
  return stateReason === 'not_planned'
    ? { ...base, id, kind: 'reject', reason: 'closed as not planned', revert: 'reopen' }
    : { ...base, id, kind: 'closed', reason: null, revert: 'reopen' };
}
