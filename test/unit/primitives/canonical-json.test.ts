import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/primitives/canonical-json.ts';

// The library canonicalJson used alone until its fast path for plain JSON: every hash and
// signature made before must still match, so the two must agree byte for byte.
const canonicalize = createRequire(import.meta.url)('canonicalize') as (input: unknown) => string | undefined;

const reference = (value: unknown): string | Error => {
  try {
    const text = canonicalize(value);
    return text === undefined ? new TypeError('value has no JSON form') : text;
  } catch (error) {
    return error as Error;
  }
};
const ours = (value: unknown): string | Error => {
  try {
    return canonicalJson(value);
  } catch (error) {
    return error as Error;
  }
};
const agree = (value: unknown) => {
  const expected = reference(value);
  const got = ours(value);
  if (expected instanceof Error) expect(got).toBeInstanceOf(Error);
  else expect(got).toBe(expected);
};

// Keys that sort differently by code unit than by code point or locale, digit keys and the awkward ones.
const key = fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('', '10', '9', '01', '__proto__', 'toJSON', 'a', 'B', 'é', '\u{1F600}', '\uFFFF', '\uD800'));

describe('canonicalJson', () => {
  it('writes every JSON value exactly as canonicalize (RFC 8785) does', () => {
    fc.assert(fc.property(fc.jsonValue(), agree), { numRuns: 2000 });
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, fc.string({ unit: 'binary' }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(key, tie('value'), { maxKeys: 5 })),
    }));
    fc.assert(fc.property(value, agree), { numRuns: 2000 });
  });

  it('agrees with canonicalize on what is not plain JSON too', () => {
    const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
    for (const odd of [
      { b: 1, 10: 2, 9: 3, a: [1, undefined, 2] },
      { when: new Date(0), skip: undefined, n: -0 },
      { toJSON: () => ({ z: 1, a: 2 }) },
      { toJSON: 'not a function', b: 1 },
      Object.assign(Object.create(null) as object, { b: 1, a: 2 }),
      new Map([['a', 1]]),
      sparse,
      [Number.NaN],
      { x: Infinity },
      JSON.parse('{"__proto__": {"a": 1}, "b": 2}') as unknown,
      { big: 1n },
      undefined,
    ]) {
      agree(odd);
    }
  });

  it('sorts keys by UTF-16 code units at every depth', () => {
    expect(canonicalJson({ b: { d: 1, c: [{ f: 1, e: 2 }] }, a: null, '\u{1F600}': 1, '\uFFFF': 2 })).toBe('{"a":null,"b":{"c":[{"e":2,"f":1}],"d":1},"\u{1F600}":1,"\uFFFF":2}');
  });
});
