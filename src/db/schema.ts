import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { AuditTables } from './audit-tables.ts';

/** JSON columns are written as JSON text (the `pg` driver would turn a JS array into a PostgreSQL array) and read back parsed. */
export type Json<T> = ColumnType<T, string, string>;
/** A JSON column that may be SQL NULL (never JSON `null`, which `is null` would not find). */
export type NullableJson<T> = ColumnType<T | null, string | null | undefined, string | null>;

type CreatedAt = ColumnType<Date, Date | string | undefined, never>;

export type ApprovalStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled';
export type Risk = 'low' | 'medium' | 'high';
export type Scope = 'intake' | 'read' | 'review' | 'admin';

export interface TicketRef {
  provider: string;
  key: string;
  url: string;
}

/** The last failed attempt to open an approval's ticket; cleared when the ticket is written. */
export interface TicketError {
  /** What failed and how to fix it; written for the agent to read, so it never holds a secret. */
  message: string;
  /** A stable word for what failed (`unauthorized`, `not_found`, `unreachable`, …), as in the metric. */
  reason: string;
  at: string;
  /** When the job runs again; null when it has no retries left. */
  retryAt: string | null;
}

export interface DecisionRecord {
  outcome: 'approved' | 'rejected' | 'expired';
  by: string[];
  at: string;
  reason: string | null;
  /** Approved with changes: the hash of the payload the agent sent (`payloadHash` is the edited one's)... */
  originalPayloadHash?: string;
  /** ...and the RFC 6902 JSON Patch from that payload to the edited one. */
  patch?: JsonPatchOperation[];
  /** Approved by a standing grant (at intake, by actor `grant:<id>`), or the grant this approval created. */
  grant?: { id: string; expiresAt: string };
}

/** One RFC 6902 operation, as fast-json-patch's `compare` writes them. */
export interface JsonPatchOperation {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

export interface ApiKeyTable {
  id: string;
  name: string;
  key_hash: string;
  scopes: Json<Scope[]>;
  project: string | null;
  reviewer: string | null;
  callback_hosts: Json<string[]>;
  webhook_secret: string;
  created_at: CreatedAt;
  revoked_at: Date | null;
}

export interface ProjectTable {
  key: string;
  provider: string;
  mapping: Json<unknown>;
  created_at: CreatedAt;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ApprovalTable {
  id: string;
  project: string;
  provider: string;
  action: string;
  summary: string;
  details: string | null;
  payload: Json<unknown>;
  payload_hash: string;
  risk: Risk;
  labels: Json<string[]>;
  requested_by: string | null;
  callback_url: string | null;
  api_key_id: string;
  status: ApprovalStatus;
  required_approvals: number;
  created_at: CreatedAt;
  decided_at: Date | null;
  decision: NullableJson<DecisionRecord>;
  ticket: NullableJson<TicketRef>;
  ticket_error: NullableJson<TicketError>;
  escalation_tier: Generated<number>;
  batch_id: string | null;
  policy: NullableJson<StoredPolicy>;
  /** Set once a reviewer approved with changes: what the agent sent (`payload` is then the edited payload). */
  original_payload: ColumnType<unknown, string | null | undefined, string | null>;
  original_payload_hash: ColumnType<string | null, string | null | undefined, string | null>;
  /** A JSON Schema (from intake or the mapping) an edited payload must satisfy. */
  payload_schema: ColumnType<unknown, string | null | undefined, string | null>;
}

/** A reviewer's "allow the same for N hours": later matching requests are approved at intake. */
export interface GrantTable {
  id: string;
  project: string;
  action: string;
  /** The agent's key that the grant covers: another key's requests never match. */
  api_key_id: string;
  requested_by: string | null;
  limits: Json<GrantLimits>;
  /** The reviewer (the mapping's entry) who granted it. */
  granted_by: string;
  approval_id: string;
  created_at: CreatedAt;
  expires_at: Date;
  revoked_at: Date | null;
  revoked_by: string | null;
  uses: Generated<number>;
}

/** The last change of an approval's ticket body that Countersign saw, and who made it. */
export interface TicketEditTable {
  approval_id: string;
  editor: string;
  body_hash: string;
  edited_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** Limits on top-level payload fields a later request must satisfy to match a grant. */
export type GrantLimits = Record<string, { max?: number; equals?: unknown; oneOf?: unknown[] }>;

/** The slice of the resolved policy an approval keeps (see src/rules/resolve-policy.ts). */
export interface StoredPolicy {
  escalation: Array<{ after: string; reviewers?: string[]; outcome?: 'reject' | 'expire' }>;
  matchedRules: number[];
  batching: boolean;
  autoApprove: boolean;
}

export interface BatchTable {
  id: string;
  project: string;
  provider: string;
  status: 'open' | 'ticketed' | 'decided';
  max_items: number;
  closes_at: Date;
  ticket: NullableJson<TicketRef>;
  created_at: CreatedAt;
  closed_at: Date | null;
}

export interface DecisionVoteTable {
  approval_id: string;
  reviewer: string;
  outcome: 'approve' | 'reject';
  reason: string | null;
  via: string;
  created_at: CreatedAt;
}

export interface IdempotencyKeyTable {
  api_key_id: string;
  key: string;
  request_hash: string;
  approval_id: string;
  created_at: CreatedAt;
}

export type CallbackStatus = 'pending' | 'delivered' | 'dead';

export interface CallbackDeliveryTable {
  approval_id: string;
  webhook_id: string;
  url: string;
  api_key_id: string;
  body: string;
  status: CallbackStatus;
  attempts: Generated<number>;
  next_attempt_at: Date | null;
  claimed_until: Date | null;
  last_attempt_at: Date | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: CreatedAt;
}

/**
 * What provider webhooks need (created by migration 0003 for GitHub; Jira uses the same tables with its own `provider`).
 * Kept out of `Database`: the code that reads them uses `db.withTables<ProviderEventTables>()`.
 */
export type ProviderEventTables = {
  /** One row per delivery id seen (`X-GitHub-Delivery`): a redelivery of the same id is dropped. */
  webhook_deliveries: { provider: string; delivery_id: string; event: string; received_at: Date | string | undefined };
  /** One row per provider activity with a stable id (a comment) applied, from a webhook or reconciliation. */
  ticket_activities: { provider: string; activity_id: string; approval_id: string; applied_at: Date | string | undefined };
};

export interface PersonTable {
  id: string;
  /** The mapping file's entry, as `personSchema` parsed it. */
  person: Json<unknown>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

export interface ChannelMessageTable {
  approval_id: string;
  /** The notification channel's name (`slack`, `email`). */
  channel: string;
  /** Where the channel put the approval's notice (`ChannelMessageRef`); null while the first notice is queued. */
  ref: NullableJson<unknown>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** One recipient a `channel-notice` job reached: its retry after a partial failure skips them. */
export interface ChannelNoticeSendTable {
  job_id: string;
  /** The channel's address of the recipient (email: the address as the directory has it). */
  recipient: string;
  approval_id: string;
  sent_at: CreatedAt;
}

/** The mapping file's `review:` (one row; see src/projects/review-settings.ts). */
export interface ReviewSettingsTable {
  id: ColumnType<boolean, boolean | undefined, never>;
  settings: Json<unknown>;
  updated_at: ColumnType<Date, Date | string | undefined, Date | string>;
}

/** One weekly review per period: claimed (`posting`) before it is posted, `posted` with where and its hash after. */
export interface ReviewPostTable {
  period_start: ColumnType<Date, Date, never>;
  period_end: Date;
  status: 'posting' | 'posted';
  destination: string;
  url: string | null;
  report_hash: string | null;
  created_at: CreatedAt;
  posted_at: Date | null;
}

export interface Database extends AuditTables {
  api_keys: ApiKeyTable;
  projects: ProjectTable;
  approvals: ApprovalTable;
  decision_votes: DecisionVoteTable;
  idempotency_keys: IdempotencyKeyTable;
  callback_deliveries: CallbackDeliveryTable;
  batches: BatchTable;
  people: PersonTable;
  grants: GrantTable;
  ticket_edits: TicketEditTable;
  channel_messages: ChannelMessageTable;
  channel_notice_sends: ChannelNoticeSendTable;
  review_settings: ReviewSettingsTable;
  review_posts: ReviewPostTable;
}

export type ApprovalRow = Selectable<ApprovalTable>;
export type NewApproval = Insertable<ApprovalTable>;
export type ApiKeyRow = Selectable<ApiKeyTable>;
export type ProjectRow = Selectable<ProjectTable>;
export type CallbackDeliveryRow = Selectable<CallbackDeliveryTable>;
export type BatchRow = Selectable<BatchTable>;
