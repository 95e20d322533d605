import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

// canonicalize is CommonJS whose typings declare an ES default export; require gives the function itself.
const canonicalize = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string | undefined;

/** RFC 8785 (JCS) canonical JSON; the one place the service turns a value into signed or hashed bytes. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON form');
  return text;
}

export const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** `sha256:` + hex SHA-256 of the payload's canonical JSON: what a reviewer's yes is bound to. */
export const payloadHash = (payload: unknown) => `sha256:${sha256Hex(canonicalJson(payload))}`;

/**
 * RFC 8785 input must be I-JSON: integers past 2^53 cannot round-trip through a
 * JavaScript number, so the hash would cover a different number than the agent sent.
 * Returns the JSON path of the first such number.
 */
export function findUnsafeNumber(value: unknown, at = 'payload'): string | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && !Number.isSafeInteger(value) ? at : undefined;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = findUnsafeNumber(item, `${at}[${i}]`);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = findUnsafeNumber(item, `${at}.${key}`);
      if (found) return found;
    }
  }
  return undefined;
}
