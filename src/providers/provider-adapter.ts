import type { DecisionRecord, Risk, TicketRef } from '../db/schema.ts';
import type { ProjectMapping, ProviderName } from '../projects/mapping-schema.ts';
import type { IdentityRules } from '../primitives/identity-key.ts';

/** What a provider needs to open a ticket for one approval. */
export interface TicketRequest {
  approvalId: string;
  project: ProjectMapping;
  action: string;
  summary: string;
  details: string | null;
  payload: unknown;
  payloadHash: string;
  risk: Risk;
  labels: string[];
  requestedBy: string | null;
  /** Reviewers to assign: the current tier's. */
  reviewers: string[];
  /** Where a person can read the approval in Countersign. */
  approvalUrl: string;
  requiredApprovals?: number;
  createdAt?: Date;
  /** 1 on the first try; more when an earlier try may have opened the ticket before failing. */
  attempt?: number;
  /** Set for a batch ticket (`approvalId` is then the batch's `bat_…` id): every request it decides. */
  items?: BatchItem[];
}

/** One request listed on a batch ticket. */
export interface BatchItem {
  approvalId: string;
  action: string;
  summary: string;
  payloadHash: string;
}

/** What happened that the ticket should now show. */
export type TicketUpdate = (
  | { kind: 'decided'; decision: DecisionRecord; approvals: number; required: number }
  | { kind: 'cancelled' }
  /** `revert` is the provider's note of the ticket change to undo (see {@link TicketActivity.revert}). */
  | { kind: 'refused'; actor: string; reason: string; revert?: string }
  /** An escalation tier was reached: add and assign its reviewers, label `escalated:N`, mention them. `by`: the reviewer who asked (`escalate` label); absent when the SLA passed. */
  | { kind: 'escalated'; tier: number; reviewers: string[]; by?: string }
  /** The payload changed (approved with changes) or a ticket edit is undone: show `ticket`, the approval's request as it now stands. */
  | { kind: 'edited'; ticket: TicketRequest }
) & {
  /** The request the ticket was opened for, so a provider that replaces label sets can recompute them. */
  request?: Pick<TicketRequest, 'risk' | 'labels'>;
};

/**
 * Something a person did on a ticket that may decide its approval, read from a webhook or
 * by reconciliation. The decision engine authorizes it like any other attempt.
 */
export interface TicketActivity {
  /**
   * The approval the ticket was opened for, or a batch's `bat_…` id for a batch ticket: its
   * pending items are decided together, except that a `reject` whose reason starts with one of
   * its items' `apr_…` ids (`/reject apr_… reason`) rejects only that item.
   */
  approvalId: string;
  /** The ticket it happened on (`TicketRef.key`): an activity on any other ticket is ignored. */
  ticketKey: string;
  /** The actor's identity at the provider (GitHub login, Jira accountId). */
  actor: string;
  /**
   * `closed`: the ticket was closed by hand without deciding; it is put back. `labeled`: a person
   * added `label` (not one of the mapping's decision labels): `escalate` escalates now, any other
   * feeds the project's label rules.
   */
  kind: 'approve' | 'reject' | 'closed' | 'labeled' | 'edited';
  reason: string | null;
  /** Kind `labeled`: the label added. */
  label?: string;
  /**
   * The ticket's payload block as it read at that moment (the webhook's own copy of the body):
   * on `approve`, what the reviewer approved (an edit, if it differs from the approval's
   * payload); on `edited`, the body was changed by `actor`. `bodyHash` identifies the body, so
   * an approval can be matched to the edit it approves. Absent where the provider shows no
   * editable payload (a cut payload, a batch).
   */
  ticketPayload?: { text: string; bodyHash: string };
  /**
   * On `approve`: the provider could not read the payload block as the ticket showed it at that
   * moment (the event carried no copy, and the ticket has changed since: a late Jira webhook).
   * Where the project allows edits, the approval is refused with this reason, so nobody
   * approves a payload they did not see.
   */
  unseenPayload?: string;
  /**
   * On `approve`, from a channel's own signed form (Slack's "Approve with changes…" modal): the
   * payload the reviewer approves instead, and "allow the same for N hours".
   */
  edit?: { payload: unknown };
  grant?: { hours: number };
  /**
   * A batch approval: the items the ticket showed as selected when it was approved (GitHub: the
   * ticked task-list items). Every other pending item is excluded (rejected). Absent: all items.
   */
  selected?: string[];
  /**
   * What makes this activity this one and no other, built only from the signed body (a comment
   * id, a changelog id; for GitHub label and close events, which carry no id, the issue, label,
   * actor and the event's own time): an activity seen again — a redelivery under a new
   * `X-GitHub-Delivery`, a replay, reconciliation reading it back — is applied once.
   */
  id: string;
  /**
   * Provider-specific note of how to put the ticket back if the attempt is refused (`label:approved`,
   * `reopen`), or counted while more approvals are needed where the adapter says so
   * ({@link ProviderCapabilities.revertsCountedVotes}).
   */
  revert?: string;
}

/** A webhook delivery whose signature has been verified. */
export type ParsedDelivery =
  | { kind: 'ping' }
  | { kind: 'ignored'; reason: string }
  | {
      kind: 'ticket';
      /** `undefined` when the delivery does not carry it (a Jira comment event): found by the stored ticket key. */
      approvalId: string | undefined;
      ticketKey: string;
      /** The event's name (GitHub's `X-GitHub-Event` header, Jira's body `webhookEvent`), kept with the delivery id. */
      event?: string;
      /** What the delivery means for that approval's project; `null` when it is nothing to act on. */
      activity(project: ProjectMapping, approvalId: string): Promise<TicketActivity | null>;
    };

/** Incoming webhooks of a provider, free of any web framework. */
export interface ProviderWebhooks {
  /** The setting that holds the webhook secret, named in the 401 so an operator knows what to compare (`GITHUB_WEBHOOK_SECRET`). */
  readonly secretSetting: string;
  /** What `POST /webhooks/{name}` is, for the OpenAPI document: the system and how its deliveries are verified. */
  readonly summary: string;
  /** The delivery's id, the same on a redelivery: the dedup key. */
  deliveryId(headers: Readonly<Record<string, string | undefined>>): string | undefined;
  /** Checks the signature over the exact raw body; false when it is missing or wrong. */
  verify(rawBody: string, headers: Readonly<Record<string, string | undefined>>): Promise<boolean>;
  /** Reads a verified delivery; never calls the provider's API. */
  parse(rawBody: string, headers: Readonly<Record<string, string | undefined>>): ParsedDelivery;
}

/** A pending approval's ticket, as reconciliation sees it. */
export interface PendingTicket {
  approvalId: string;
  ticket: TicketRef;
  project: ProjectMapping;
  createdAt: Date;
}

/**
 * A provider failure put in words: `reason` is a stable word (metric label, `ticketError.reason`),
 * `message` says what failed and how to fix it. Both are shown to agents and operators, so they
 * never carry a secret (no token, no response body that might echo one).
 */
export interface ProviderFailure {
  reason: 'unauthorized' | 'forbidden' | 'not_found' | 'issues_disabled' | 'unknown_issue_type' | 'unknown_status' | 'invalid' | 'rate_limited' | 'unavailable' | 'unreachable' | 'error';
  message: string;
}

/**
 * What a ticket system can do, asked by the core instead of its name (kysely asks its dialect
 * what it supports). Each flag matches the optional member it announces, where there is one;
 * `test/unit/providers/provider-capabilities.test.ts` holds every built-in adapter to that.
 */
export interface ProviderCapabilities {
  /**
   * Reviewers decide in Countersign itself (`countersign decide`, `POST /v1/approvals/{id}/decision`):
   * the approval is its own ticket (`local`). Elsewhere a decision is made on the provider's ticket.
   */
  readonly decidesInCountersign: boolean;
  /** Keeps a ticket apart from the approval that must be told of outcomes: has `updateTicket`. */
  readonly updatesTickets: boolean;
  /** Decides through signed webhooks at `POST /webhooks/{name}`: has `webhooks`. */
  readonly webhooks: boolean;
  /** Can read pending tickets back for activities whose webhooks were missed: has `reconcile`. */
  readonly reconciles: boolean;
  /**
   * A vote that is counted while more approvals are needed is put back on the ticket too (with a
   * comment saying so): a Jira status can be entered once, so the next reviewer needs the issue
   * back where it was. GitHub keeps the label, and the next reviewer adds their own vote.
   */
  readonly revertsCountedVotes: boolean;
}

/**
 * One ticket system. Every provider (local, GitHub, Jira) implements this; the decision
 * engine, the jobs and the routes see only this interface and the provider registry.
 */
export interface ProviderAdapter {
  readonly name: ProviderName;
  readonly capabilities: ProviderCapabilities;
  /**
   * How this system tells its accounts apart (identity-key.ts: GitHub logins fold case, Jira
   * accountIds do not); absent: exact comparison after NFKC and trim. Read only through the
   * people directory (`src/channels/people-directory.ts`), the one place that turns an actor
   * into a person.
   */
  readonly identities?: IdentityRules;
  /**
   * For a provider whose ticket is the approval itself (`local`): the ticket, known at intake,
   * so it is written with the row and no job or API call is needed.
   */
  ticketAtIntake?(request: Pick<TicketRequest, 'approvalId' | 'approvalUrl'>): TicketRef;
  /** Opens the ticket, or finds the one an earlier, interrupted attempt opened. Must be idempotent. */
  createTicket(request: TicketRequest): Promise<TicketRef>;
  /**
   * Writes an outcome onto the ticket (comment, labels, close); called from a retried job.
   * Absent where the approval is its own ticket (`local`): then no update job is queued.
   */
  updateTicket?(ticket: TicketRef, project: ProjectMapping, update: TicketUpdate): Promise<void>;
  /** Providers that decide through webhooks (GitHub, Jira). */
  readonly webhooks?: ProviderWebhooks;
  /**
   * Whether `label` is one this provider sets or reads for itself on its tickets (GitHub's
   * `escalated:N`, `risk:*`): a person adding it by hand is not a label-rule input. The mapping's
   * decision labels and `escalate` are the core's own and need not be listed.
   */
  ownsLabel?(label: string): boolean;
  /**
   * Reads pending tickets from the provider's API and returns what people did on them, for
   * decisions whose webhooks were missed. Activities already applied are returned again; the
   * caller applies each at most once.
   */
  reconcile?(tickets: PendingTicket[]): Promise<TicketActivity[]>;
  /**
   * Asks the provider's API whether tickets of this project can be opened (credentials accepted,
   * repository or project there, issue type and statuses known); an empty list when all is well.
   * Run at start-up and by `projects apply`.
   */
  checkProject?(project: ProjectMapping): Promise<ProviderFailure[]>;
  /** Puts an error thrown by one of this adapter's calls for `project` in words (see ProviderFailure). */
  describeError?(error: unknown, project: ProjectMapping): ProviderFailure;
  /**
   * Opens a ticket holding a report that is no approval (the weekly review, src/review/) where
   * `destination` says: the mapping's `review.post.<provider>` section, already validated
   * (`{owner, repo}` for GitHub, `{project, issueType}` for Jira). `text` is Countersign's own,
   * shown as preformatted text. Returns the new ticket.
   */
  postReport?(destination: Readonly<Record<string, string>>, report: { title: string; text: string }): Promise<TicketRef>;
}
