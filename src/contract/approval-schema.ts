import { z } from 'zod';

/**
 * What the API answers about an approval, as a schema: `toApprovalView` is typed by it, the
 * OpenAPI document (`GET /openapi.json`) is generated from it, and `countersign/client`'s
 * `Approval` type is derived from it, so the three cannot drift apart. A leaf module (zod
 * only): the packed client imports nothing of the server through it.
 */
export const ticketSchema = z.object({ provider: z.string(), key: z.string(), url: z.string() });

export const decisionSchema = z.object({
  outcome: z.enum(['approved', 'rejected', 'expired']),
  by: z.array(z.string()),
  at: z.string(),
  reason: z.string().nullable(),
  /** Approved with changes: the hash of the payload the agent sent (the approval's `payloadHash` is the edited one's)... */
  originalPayloadHash: z.string().optional(),
  /** ...and the RFC 6902 JSON Patch from it to the payload approved. */
  patch: z.array(z.object({ op: z.enum(['add', 'remove', 'replace', 'move', 'copy', 'test']), path: z.string(), value: z.unknown().optional(), from: z.string().optional() })).optional(),
  /** A standing grant: the one that approved this request at intake, or the one this approval created. */
  grant: z.object({ id: z.string(), expiresAt: z.string() }).optional(),
});

export const callbackStateSchema = z.object({
  url: z.string(),
  webhookId: z.string(),
  status: z.enum(['pending', 'delivered', 'dead']),
  attempts: z.number().int(),
  lastAttemptAt: z.string().nullable(),
  lastStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  nextAttemptAt: z.string().nullable(),
  deliveredAt: z.string().nullable(),
});

export const approvalSchema = z.object({
  id: z.string(),
  status: z.enum(['pending', 'approved', 'rejected', 'expired', 'cancelled']),
  project: z.string(),
  action: z.string(),
  summary: z.string(),
  risk: z.enum(['low', 'medium', 'high']),
  labels: z.array(z.string()),
  requestedBy: z.string().nullable(),
  payloadHash: z.string(),
  /** Set once a reviewer approved with changes: the hash of the payload the agent sent. */
  originalPayloadHash: z.string().optional(),
  /**
   * On `GET /v1/approvals/{id}` (and its long poll): the payload to act on, the reviewer's edit
   * when there is one. Its hash is `payloadHash`.
   */
  payload: z.unknown().optional(),
  requiredApprovals: z.number().int(),
  createdAt: z.string(),
  ticket: ticketSchema.nullable(),
  decision: decisionSchema.nullable(),
  escalationTier: z.number().int(),
  batchId: z.string().nullable(),
  /** On `GET /v1/approvals/{id}`: the decision callback's delivery state, null without a callbackUrl. */
  callback: callbackStateSchema.nullable().optional(),
  /** On a counted (not yet deciding) review: approvals so far of those required. */
  votes: z.object({ approvals: z.number().int(), required: z.number().int() }).optional(),
});

export type ApprovalView = z.output<typeof approvalSchema>;

export const approvalListSchema = z.object({ items: z.array(approvalSchema), nextCursor: z.string().nullable() });

export const errorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });
