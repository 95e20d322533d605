import type { AuditActor } from '../db/audit-tables.ts';
import { canonicalJson, findUnsafeNumber, sha256Hex } from '../primitives/canonical-json.ts';

/**
 * Every event the audit log records. Others append theirs here (escalation, callbacks);
 * verification does not depend on the list, so old logs stay valid when it grows.
 */
export const AUDIT_EVENTS = [
  'approval.requested',
  'ticket.created',
  'decision.refused',
  'decision.counted',
  'decision.late',
  'approval.decided',
  'approval.escalated',
  'approval.cancelled',
  'callback.delivered',
  'callback.dead',
  'api_key.created',
  'api_key.revoked',
  'project.changed',
  /** The people directory changed (`projects apply` of a file with `people:`): who was added, updated, removed, and the new list. */
  'people.changed',
  'audit.pruned',
  'audit.signing_key_added',
  /** A label added on the ticket re-resolved the approval's rules (quorum, escalation tiers). */
  'approval.relabeled',
  /** A reviewer approved with "allow the same for N hours": the grant's scope, limits and expiry. */
  'grant.created',
  'grant.revoked',
  /** `countersign audit rotate-key`: the old key endorses the new one (key-rotation.ts); verify follows it. */
  'audit.signing_key_rotated',
  /** The mapping file's `review:` settings changed. */
  'review.settings_changed',
  /** The weekly review was posted: where, for which period, and the SHA-256 of the report posted. */
  'review.posted',
] as const;

export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/** Who caused an event; declared with the tables that store it (the db layer sits below audit/). */
export type { AuditActor, AuditActorKind } from '../db/audit-tables.ts';

/** Whoever runs the CLI on the server's machine (locally or through the admin socket). */
export const OPERATOR_ACTOR: AuditActor = Object.freeze({ kind: 'admin', id: 'operator', via: 'cli' });

/** What a state change hands to `append`; the log adds sequence, time, links and signature. */
export interface AuditEntry {
  event: AuditEvent;
  approvalId?: string | null;
  actor: AuditActor;
  /** Plain JSON (I-JSON: no integers beyond 2^53), hashed in its RFC 8785 form. */
  data?: Record<string, unknown>;
}

/**
 * Refuses data that RFC 8785 cannot hash exactly (integers beyond 2^53), where the entry is
 * made: a bad entry must fail its own transaction, not block the chain later.
 */
export function assertHashableEntry(entry: AuditEntry): void {
  const unsafe = findUnsafeNumber(entry.data ?? {}, 'data');
  if (unsafe) throw new TypeError(`audit ${entry.event}: ${unsafe} is an integer beyond 2^53; record it as a string`);
}

/** The fields covered by `hash`: the record without `hash` and `signature`. */
export interface AuditRecordBody {
  seq: number;
  time: string;
  approvalId: string | null;
  event: string;
  actor: AuditActor;
  data: Record<string, unknown>;
  prevHash: string;
  keyId: string;
}

/** One link of the chain, as stored, exported and verified. Hashes are lowercase hex, the signature base64. */
export interface AuditRecord extends AuditRecordBody {
  hash: string;
  /** Ed25519 over the 32 bytes of `hash`, by the key `keyId`. */
  signature: string;
}

/** The `prevHash` of the first record ever written. */
export const GENESIS_HASH = '0'.repeat(64);

/** SHA-256 (hex) of the RFC 8785 canonical JSON of the record without hash and signature. */
export function recordHash(body: AuditRecordBody): string {
  const { seq, time, approvalId, event, actor, data, prevHash, keyId } = body;
  return sha256Hex(canonicalJson({ seq, time, approvalId, event, actor, data, prevHash, keyId }));
}
