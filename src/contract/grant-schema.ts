import { z } from 'zod';
import { jsonValueSchema } from '../primitives/json-value-problem.ts';
import { safeText } from '../primitives/safe-text.ts';

/**
 * "And allow the same for N hours" on an approve decision (CONTRACT.md "Standing grants"):
 * later requests of the same project, action, agent key and `requestedBy` are approved at
 * intake while the grant lasts, if their payload keeps within `limits` (top-level fields:
 * `max` for numbers, `equals`, `oneOf`).
 */
export const grantRequestSchema = z.strictObject({
  hours: z.number().positive().max(720),
  limits: z
    .record(
      safeText({ min: 1, max: 200 }),
      z
        .strictObject({ max: z.number().optional(), equals: jsonValueSchema().optional(), oneOf: z.array(jsonValueSchema()).min(1).max(100).optional() })
        .refine((limit) => Object.keys(limit).length > 0, 'expected max, equals or oneOf'),
    )
    .optional(),
});

export type GrantRequest = z.infer<typeof grantRequestSchema>;
