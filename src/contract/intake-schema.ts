import { z } from 'zod';
import { callbackUrlSchema } from './callback-url-schema.ts';
import { jsonValueSchema } from '../primitives/json-value-problem.ts';
import { safeText } from '../primitives/safe-text.ts';

/**
 * The intake body. Unknown fields are refused rather than ignored: a misspelt
 * `callbackURL` silently dropped would leave an agent waiting for a callback that never comes.
 * Every string is `safeText` (no NUL, lone surrogates or, outside `details`, control
 * characters) and `payload` any JSON value the service can store and hash exactly.
 */
export const intakeSchema = z.strictObject({
  project: safeText({ min: 1, max: 63 }),
  action: safeText({ min: 1, max: 200 }),
  summary: safeText({ min: 1, max: 500 }),
  details: safeText({ max: 65_536, multiLine: true }).optional(),
  payload: jsonValueSchema().optional(),
  risk: z.enum(['low', 'medium', 'high']).default('medium'),
  requestedBy: safeText({ min: 1, max: 200 }).optional(),
  callbackUrl: safeText({ max: 2048 }).pipe(callbackUrlSchema).optional(),
  labels: z.array(safeText({ min: 1, max: 100 })).max(50).default([]),
  /** A JSON Schema (2020-12) the payload, and any reviewer's edit of it, must satisfy. */
  payloadSchema: jsonValueSchema().optional(),
});

export type IntakeRequest = z.infer<typeof intakeSchema>;
