import { z } from 'zod';
import { unsafeTextReason } from './safe-text.ts';

/**
 * How deep a JSON document may nest: the body object itself is level 1, so an intake's
 * `payload` may nest 63 levels. Deep enough for any real payload, shallow enough that every
 * recursive walk (canonical JSON, hashing, jsonb) stays far from the stack limit.
 * (.NET's System.Text.Json uses the same default.)
 */
export const MAX_JSON_DEPTH = 64;

export interface JsonValueProblem {
  path: PropertyKey[];
  message: string;
}

/**
 * The first part of a parsed JSON value the service would not store or hash exactly, with
 * its path: nesting deeper than `MAX_JSON_DEPTH`, a key or string PostgreSQL cannot hold
 * (NUL, lone surrogates), or a number I-JSON (RFC 7493) does not allow: not finite, or an
 * integer beyond ±(2^53−1), which RFC 8785 hashing cannot represent exactly.
 *
 * @example findJsonValueProblem({ a: [1, '\u0000'] }) // { path: ['a', 1], message: 'contains U+0000 …' }
 */
export function findJsonValueProblem(value: unknown, path: PropertyKey[] = [], depth = 0): JsonValueProblem | undefined {
  if (typeof value === 'string') {
    const reason = unsafeTextReason(value);
    return reason ? { path, message: reason } : undefined;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return { path, message: 'number is not finite; JSON has no Infinity or NaN' };
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) return { path, message: 'integer beyond ±(2^53−1) cannot be hashed exactly; send it as a string' };
    return undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (depth + 1 > MAX_JSON_DEPTH) return { path, message: `nested deeper than ${MAX_JSON_DEPTH} levels of arrays and objects` };
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = findJsonValueProblem(item, [...path, i], depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    const keyReason = unsafeTextReason(key);
    if (keyReason) return { path, message: `a key ${keyReason}` };
    const found = findJsonValueProblem(item, [...path, key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Any JSON value that `findJsonValueProblem` accepts; the depth counts from the field, so a
 * field one level into a request body allows `MAX_JSON_DEPTH - 1` levels.
 */
export const jsonValueSchema = (levelsAbove = 1) =>
  z.unknown().superRefine((value, ctx) => {
    const problem = findJsonValueProblem(value, [], levelsAbove);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  });
