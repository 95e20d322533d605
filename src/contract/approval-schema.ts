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
