import type { ApprovalStatus, DecisionRecord, Risk } from '../db/schema.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import type { IdentityRules } from '../primitives/identity-key.ts';
import type { ActorIdentity, ChannelRecipient, PersonAddress } from './people-directory.ts';

export type { ChannelRecipient } from './people-directory.ts';

/**
 * Notification channels: where people hear that an approval needs them and may answer it, for
 * a project whose ticket lives elsewhere (or nowhere: `local`): Slack as a notifier
 * (`notify.slack`) and email. The core tells them through `channel-notices.ts`: one job per
 * change and channel, queued in the transaction of the change.
 *
 * A channel is not a ticket system. A `ProviderAdapter` (src/providers/provider-adapter.ts) owns the one
 * ticket of an approval (`provider: github | jira | local`, later `slack` when the message is the
 * ticket); channels are any number of extra places that show it and keep in step with it. Slack
 * can be both, through two objects over one Web API client. Whichever the source, a decision
 * goes the same way: the channel hands back a {@link ChannelDecision}, the core turns its actor
 * into a person through the people directory (people-directory.ts) and calls the one decision
 * engine (`decideApproval` / `decideBatch`), so M-of-N, one vote per person across channels,
 * the requester rule and the audit record are the same for every channel.
 *
 * Channels stay free of the web framework and of the database, as adapters do: the core
 * queues their calls as jobs (retried, never lost) and stores what they hand back.
 */

/** What a channel shows of an approval: enough to decide, nothing secret. */
export interface ApprovalSummary {
  approvalId: string;
  /** Set when the approval is one item of a batch shown as a whole. */
  batchId?: string;
  project: string;
  /** The approval's status now: a notice built late (a retried job) shows where things stand. */
  status: ApprovalStatus;
  action: string;
  summary: string;
  risk: Risk;
  requestedBy: string | null;
  payloadHash: string;
  /** Where a person reads (and, for the web inbox, decides) the approval in Countersign. */
  approvalUrl: string;
  approvals: number;
  required: number;
}

/** What a channel is told: every change a person there should see, in the order it happened. */
export type ChannelNotice =
  /** An approval needs these people: at intake (the first tier's reviewers) or when an escalation tier is reached (`tier` > 0, `by`: the reviewer who asked). */
  | { kind: 'needs-review'; approval: ApprovalSummary; recipients: ChannelRecipient[]; tier: number; by?: string }
  /** A vote was counted and more are needed (Slack shows "1 of 2"). */
  | { kind: 'counted'; approval: ApprovalSummary; by: string }
  /** An attempt from this channel changed nothing: said to that person alone (Slack: ephemeral; web: on the page). */
  | { kind: 'refused'; approval: ApprovalSummary; to: ChannelRecipient; reason: string }
  /** The decision landed, from any channel or the ticket (expiry is a decision by `policy`). */
  | { kind: 'decided'; approval: ApprovalSummary; decision: DecisionRecord }
  | { kind: 'cancelled'; approval: ApprovalSummary };

/** Where a channel put a notice, kept so later notices update it in place (Slack: channel and `ts`). */
export interface ChannelMessageRef {
  channel: string;
  key: string;
}

/**
 * What a channel hands back: a person's decision, as signed by the channel (Slack's `user.id`
 * in a verified interaction, the signed-in person of a web form). Never a name read from text.
 */
export interface ChannelDecision {
  approvalId: string;
  actor: ActorIdentity;
  outcome: 'approve' | 'reject';
  reason: string | null;
  /** A batch decision: the items left out (rejected), as the channel's checkboxes showed them. */
  exclude?: Array<{ approvalId: string; reason: string | null }>;
  /** What makes this answer this one and no other (an interaction id, a form token): applied once, like `TicketActivity.id`. */
  id: string;
}

/** How a notice is being sent: `retry` when an earlier run of the same job may have got as far as posting. */
export interface NoticeContext {
  retry: boolean;
  /**
   * Runs `send` unless an earlier run of this same notice already completed it for `key` (one
   * recipient's address): a channel that sends one message per person (email) resends, after a
   * partial failure, only to those the failed run did not reach. A crash between a send and its
   * record may still repeat that one.
   */
  once(key: string, send: () => Promise<void>): Promise<void>;
}

/** What a channel can do, asked by the core instead of its name (as `ProviderCapabilities` for adapters). */
export interface ChannelCapabilities {
  /** Its people can answer from it (Slack buttons, the web form): it hands back {@link ChannelDecision}s. Email alone only links to the web inbox. */
  readonly decides: boolean;
  /** It changes what it showed (`chat.update`) rather than sending a new message for each notice. */
  readonly updatesInPlace: boolean;
  /** It can read back answers given while the service was down (Slack thread replies). */
  readonly reconciles: boolean;
}

/** One notification channel (Slack as a notifier, email, the web inbox). */
export interface NotificationChannel {
  /** Its name: the `notify.{name}` key of the mapping and the `via` of its decisions (`slack`, `email`, `inbox`). */
  readonly name: string;
  readonly capabilities: ChannelCapabilities;
  /** How it tells its accounts apart, for the people directory (Slack user ids: exact). */
  readonly identities?: IdentityRules;
  /** Which field of a person it reaches them at (`slack`, `email`): `needs-review` recipients are the reviewers with one. */
  readonly address: PersonAddress;
  /** Whether it shows `project`'s approvals (`notify.slack` set; email: `notify.email`, or a `local` project with SMTP). */
  appliesTo(project: ProjectMapping): boolean;
  /**
   * Shows a notice; called from a retried job, so it must be idempotent for the same notice.
   * `previous`: where the approval's earlier notice went, for a channel that updates in place.
   */
  notify(notice: ChannelNotice, previous?: ChannelMessageRef, context?: NoticeContext): Promise<ChannelMessageRef | undefined>;
  /**
   * Answers read back from the channel for approvals still pending (see `capabilities.reconciles`);
   * answers already applied are returned again and applied at most once by `id`.
   */
  reconcile?(pending: ReadonlyArray<{ approvalId: string; message: ChannelMessageRef }>): Promise<ChannelDecision[]>;
}
