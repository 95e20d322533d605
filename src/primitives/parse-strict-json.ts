import { getUnsafeNumberReason, isLosslessNumber, parse as parseLossless } from 'lossless-json';
import { badRequest, unprocessable } from './errors.ts';
import { findJsonValueProblem } from './json-value-problem.ts';
import { formatPath } from './validation.ts';

/**
 * Parses a request body as I-JSON (RFC 7493), the input RFC 8785 hashing needs, so that
 * what is stored, hashed and shown is exactly what the client sent:
 *
 * - not JSON, or starting with a byte order mark (RFC 8259 §8.1 forbids sending one):
 *   400 `invalid_json`;
 * - valid JSON the service would not keep exactly: 422 `invalid_request` naming the path
 *   (`payload.items[3]: …`): nesting deeper than `MAX_JSON_DEPTH`, NUL or a lone
 *   surrogate in a key or string, a number that is not finite or an integer beyond
 *   ±(2^53−1), a number whose digits a JavaScript number cannot hold (`1e-400` reads as 0,
 *   `0.1000000000000000000001` as 0.1), and a key given twice with different values
 *   (JSON.parse would silently keep the last one, so a reviewer and a downstream parser
 *   could read different requests).
 *
 * `JSON.parse` reads the value (and, being iterative, survives any nesting); only its
 * numbers' text and duplicate keys need `lossless-json`, run once the depth is known to be
 * safe for its recursive parser.
 *
 * @example parseStrictJson('{"n": 1e400}') // throws 422 "n: number … overflows"
 */
export function parseStrictJson(text: string): unknown {
  if (text.charCodeAt(0) === 0xfeff) throw badRequest('invalid_json', 'request body starts with a byte order mark; send UTF-8 JSON without one');
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    throw badRequest('invalid_json', `request body is not valid JSON: ${(error as Error).message}`);
  }
  const problem = findJsonValueProblem(value);
  if (problem) throw unprocessable('invalid_request', located(problem.path, problem.message));

  let lossless: unknown;
  try {
    lossless = parseLossless(text, null, {
      onDuplicateKey: ({ key }) => {
        throw unprocessable('invalid_request', `the key ${describeKey(key)} appears twice in one object with different values; I-JSON (RFC 7493) forbids duplicate keys`);
      },
    });
  } catch (error) {
    if (error instanceof SyntaxError) throw badRequest('invalid_json', `request body is not valid JSON: ${error.message}`);
    throw error;
  }
  const inexact = findInexactNumber(lossless, []);
  if (inexact) throw unprocessable('invalid_request', located(inexact.path, inexact.message));
  return value;
}

const located = (path: PropertyKey[], message: string) => (path.length > 0 ? `${formatPath(path)}: ${message}` : message);

/** A key as a short JSON string: enough to find it, never the whole of a huge or hostile key. */
const describeKey = (key: string) => JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);

const NUMBER_PROBLEMS: Record<string, string> = {
  overflow: 'number is too large for a JavaScript number',
  underflow: 'number is too small for a JavaScript number and would read as 0',
  truncate_integer: 'integer beyond ±(2^53−1) cannot be hashed exactly; send it as a string',
  truncate_float: 'number has more digits than a JavaScript number holds; send it as a string',
};

function findInexactNumber(value: unknown, path: PropertyKey[]): { path: PropertyKey[]; message: string } | undefined {
  if (isLosslessNumber(value)) {
    const reason = getUnsafeNumberReason(value.value);
    return reason ? { path, message: NUMBER_PROBLEMS[reason] ?? 'number cannot be represented exactly' } : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  const entries: Array<[PropertyKey, unknown]> = Array.isArray(value) ? [...value.entries()] : Object.entries(value);
  for (const [key, item] of entries) {
    const found = findInexactNumber(item, [...path, key]);
    if (found) return found;
  }
  return undefined;
}
