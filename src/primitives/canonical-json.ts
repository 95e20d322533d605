import { hash } from 'node:crypto';
import { createRequire } from 'node:module';

// canonicalize is CommonJS whose typings declare an ES default export; require gives the function itself.
const canonicalize = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string | undefined;

/** RFC 8785 (JCS) canonical JSON; the one place the service turns a value into signed or hashed bytes. */
export function canonicalJson(value: unknown): string {
  const sorted = sortedJsonCopy(value);
  const text = sorted === NOT_PLAIN ? canonicalize(value) : JSON.stringify(sorted);
  if (text === undefined) throw new TypeError('value has no JSON form');
  return text;
}

const NOT_PLAIN: unique symbol = Symbol('not plain JSON');

/**
 * The fast path of `canonicalJson`, for plain JSON (what JSON.parse and the database give):
 * a copy with every object's keys in RFC 8785 order (UTF-16 code units, as `sort()` compares),
 * which `JSON.stringify` then writes exactly as canonicalize would — it is what canonicalize
 * calls for every string and number — at twice its speed (a record's hash is most of
 * `audit verify`'s work besides signatures). Anything else (toJSON, undefined, functions,
 * NaN, sparse arrays, other prototypes, `__proto__`) is left to canonicalize, as are keys
 * that start with a digit: V8 lists integer-like keys first whatever order they are added in.
 * test/unit/primitives/canonical-json.test.ts holds the two to the same output.
 */
function sortedJsonCopy(value: unknown): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : NOT_PLAIN;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const copy: unknown[] = new Array<unknown>(value.length);
        for (let i = 0; i < value.length; i += 1) {
          if (!(i in value)) return NOT_PLAIN;
          const item = sortedJsonCopy(value[i]);
          if (item === NOT_PLAIN) return NOT_PLAIN;
          copy[i] = item;
        }
        return copy;
      }
      const prototype: unknown = Object.getPrototypeOf(value);
      if (prototype !== Object.prototype && prototype !== null) return NOT_PLAIN;
      const object = value as Record<string, unknown>;
      const copy: Record<string, unknown> = {};
      for (const key of sortedKeys(Object.keys(object))) {
        const first = key.charCodeAt(0);
        if ((first >= 48 && first <= 57) || key === '__proto__' || key === 'toJSON') return NOT_PLAIN;
        const item = sortedJsonCopy(object[key]);
        if (item === NOT_PLAIN) return NOT_PLAIN;
        copy[key] = item;
      }
      return copy;
    }
    default:
      return NOT_PLAIN;
  }
}

/**
 * The keys in UTF-16 code unit order, as `sort()` gives them. A record's objects have a
 * handful of keys each, and for so few an insertion sort with `>` (which compares code units
 * too) is several times faster than `Array.prototype.sort`: a third of the copy's cost for an
 * audit record. Longer lists go to `sort()`.
 */
function sortedKeys(keys: string[]): string[] {
  if (keys.length > 16) return keys.sort();
  for (let i = 1; i < keys.length; i += 1) {
    const key = keys[i]!;
    let j = i - 1;
    for (; j >= 0 && keys[j]! > key; j -= 1) keys[j + 1] = keys[j]!;
    keys[j + 1] = key;
  }
  return keys;
}

/** One-shot hashing: a Hash object per call cost twice as much for a record's few hundred bytes. */
export const sha256Hex = (data: string | Buffer) => hash('sha256', data, 'hex');

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
