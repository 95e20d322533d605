import { z } from 'zod';

/**
 * An `Idempotency-Key` (the HTTP header, the MCP tools' `idempotencyKey`): 1 to 255 printable
 * ASCII characters, as the IETF draft's sf-string. It is stored, and shown in logs.
 */
export const IDEMPOTENCY_KEY = /^[\x20-\x7E]{1,255}$/;

export const idempotencyKeySchema = z.string().regex(IDEMPOTENCY_KEY, 'expected 1 to 255 printable ASCII characters');
