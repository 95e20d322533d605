import { z } from 'zod';
import { callbackUrlSchema } from '../callbacks/callback-url-schema.ts';

/**
 * The intake body. Unknown fields are refused rather than ignored: a misspelt
 * `callbackURL` silently dropped would leave an agent waiting for a callback that never comes.
 */
export const intakeSchema = z.strictObject({
  project: z.string().min(1).max(63),
  action: z.string().min(1).max(200),
  summary: z.string().min(1).max(500),
  details: z.string().max(65_536).optional(),
  payload: z.unknown().optional(),
  risk: z.enum(['low', 'medium', 'high']).default('medium'),
  requestedBy: z.string().min(1).max(200).optional(),
  callbackUrl: callbackUrlSchema.optional(),
  labels: z.array(z.string().min(1).max(100)).max(50).default([]),
});

export type IntakeRequest = z.infer<typeof intakeSchema>;
