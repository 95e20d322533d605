import type { ColumnType } from 'kysely';

/** `bigint` columns: `pg` returns them as strings, PGlite as numbers; read them through `Number()`. */
type Int8 = ColumnType<string | number, number, number>;
/** Written as JSON text, read back parsed (see `Json<T>` in src/db/schema.ts). */
type JsonColumn<T> = ColumnType<T, string, string>;
type Timestamp = ColumnType<Date, Date | string | undefined, never>;

export type AuditActorKind = 'agent' | 'reviewer' | 'admin' | 'system' | 'policy';

/** Who caused an event: `id` is an API key id, a reviewer login or a component name; `via` the channel (`api`, `cli`, `github`, …). */
export interface AuditActor {
  kind: AuditActorKind;
  id: string;
  via: string;
}

/** The one row that serializes appends: the last sequence number and hash, and the log's origin name. */
export interface AuditHeadTable {
  id: ColumnType<boolean, boolean | undefined, never>;
  origin: string;
  seq: Int8;
  hash: string;
  /** The number of the latest checkpoint (0 before the first): a deleted latest checkpoint shows against it. */
  checkpoints: ColumnType<string | number, never, number>;
}

export interface AuditRecordTable {
  seq: Int8;
  time: ColumnType<Date, Date, never>;
  approval_id: string | null;
  event: string;
  actor: JsonColumn<AuditActor>;
  data: JsonColumn<Record<string, unknown>>;
  prev_hash: string;
  hash: string;
  signature: string;
  key_id: string;
  /** The audit_pending row this record was chained from (null when appended directly); not hashed, it only lets the queue's guard see the entry arrived. */
  pending_id: ColumnType<string | number | null, number | undefined, never>;
}

/** Every public key that ever signed: rotation adds one, none is removed, so old records keep verifying. */
export interface AuditSigningKeyTable {
  key_id: string;
  public_key: string;
  created_at: Timestamp;
}

export interface AuditCheckpointTable {
  tree_size: Int8;
  root_hash: string;
  /** The C2SP signed note. */
  note: string;
  key_id: string;
  /** Hex subtree roots at this size (see CompactRange): what a prune keeps as its anchor. */
  compact_range: JsonColumn<string[]>;
  created_at: Timestamp;
  /** 1, 2, 3, … in tree-size order; null for checkpoints signed before migration 0009. */
  number: ColumnType<string | number | null, number | undefined, never>;
  /** Signed note naming this checkpoint's number and its predecessor (see checkpoint-link.ts). */
  link: ColumnType<string | null, string | undefined, never>;
}

/** Where the retained log starts after a prune: records up to `tree_size` are gone, their tree is not. */
export interface AuditAnchorTable {
  tree_size: Int8;
  root_hash: string;
  compact_range: JsonColumn<string[]>;
  created_at: Timestamp;
}

/** An audit entry committed with its state change and waiting to be chained (see audit-queue.ts). */
export interface AuditPendingTable {
  id: ColumnType<string | number, never, never>;
  time: ColumnType<Date, Date, never>;
  approval_id: string | null;
  event: string;
  actor: JsonColumn<AuditActor>;
  data: JsonColumn<Record<string, unknown>>;
}

export interface AuditTables {
  audit_head: AuditHeadTable;
  audit_pending: AuditPendingTable;
  audit_records: AuditRecordTable;
  audit_signing_keys: AuditSigningKeyTable;
  audit_checkpoints: AuditCheckpointTable;
  audit_anchors: AuditAnchorTable;
}
