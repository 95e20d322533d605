import { canonicalJson } from '../primitives/canonical-json.ts';
import type { GrantLimits } from '../db/schema.ts';

/**
 * Why `payload` falls outside a grant's limits, or `undefined` when it keeps within them. A limit
 * names a top-level field of an object payload; a payload without that field, or of another
 * type, is outside (a grant never covers more than it says).
 *
 * @example limitProblem({ amount: { max: 100 } }, { amount: 250 }) // 'amount is 250, above the grant’s max 100'
 */
export function limitProblem(limits: GrantLimits, payload: unknown): string | undefined {
  const entries = Object.entries(limits);
  if (entries.length === 0) return undefined;
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return 'the payload is not an object with the fields the grant limits';
  const fields = payload as Record<string, unknown>;
  for (const [field, limit] of entries) {
    if (!Object.hasOwn(fields, field)) return `${field} is missing; the grant limits it`;
    const value = fields[field];
    if (limit.max !== undefined && (typeof value !== 'number' || value > limit.max)) return `${field} is ${canonicalJson(value)}, above the grant's max ${limit.max}`;
    if (limit.equals !== undefined && canonicalJson(value) !== canonicalJson(limit.equals)) return `${field} is ${canonicalJson(value)}, not ${canonicalJson(limit.equals)} as the grant requires`;
    if (limit.oneOf !== undefined && !limit.oneOf.some((allowed) => canonicalJson(allowed) === canonicalJson(value))) return `${field} is ${canonicalJson(value)}, not one of the grant's ${canonicalJson(limit.oneOf)}`;
  }
  return undefined;
}
