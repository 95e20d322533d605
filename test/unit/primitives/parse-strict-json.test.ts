import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/primitives/canonical-json.ts';
import { CountersignError } from '../../../src/primitives/errors.ts';
import { MAX_JSON_DEPTH } from '../../../src/primitives/json-value-problem.ts';
import { parseStrictJson } from '../../../src/primitives/parse-strict-json.ts';

const refusal = (text: string): { status: number; code: string; message: string } => {
  try {
    parseStrictJson(text);
  } catch (error) {
    if (error instanceof CountersignError) return { status: error.status, code: error.code, message: error.message };
    throw error;
  }
  throw new Error(`accepted ${text.slice(0, 80)}`);
};

const text = fc.string({ unit: 'grapheme', maxLength: 10 }).filter((s) => !s.includes('\u0000'));
const number = fc.oneof(fc.maxSafeInteger(), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }));
const { value: storable } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', maxDepth: 5 }, text, number, fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(text, tie('value'), { maxKeys: 4 })),
}));
const nest = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

describe('parseStrictJson', () => {
  it('reads every storable JSON value back exactly', () => {
    fc.assert(
      fc.property(storable, (value) => {
        expect(canonicalJson(parseStrictJson(JSON.stringify(value)))).toBe(canonicalJson(value));
      }),
    );
  });

  it('refuses a NUL or lone surrogate anywhere in a value or key with 422 naming its path', () => {
    const bad = fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff');
    fc.assert(
      fc.property(storable, bad, fc.boolean(), (inner, char, asKey) => {
        const document = { outer: [inner, asKey ? { [`k${char}`]: 1 } : { k: `v${char}` }] };
        const { status, code, message } = refusal(JSON.stringify(document));
        expect([status, code]).toEqual([422, 'invalid_request']);
        expect(message).toMatch(asKey ? /^outer\[1\]: a key contains/ : /^outer\[1\]\.k: contains/);
      }),
    );
  });

  it(`accepts ${MAX_JSON_DEPTH} levels of nesting and refuses ${MAX_JSON_DEPTH + 1}, even far more`, () => {
    expect(parseStrictJson(nest(MAX_JSON_DEPTH))).toBeDefined();
    expect(refusal(nest(MAX_JSON_DEPTH + 1))).toMatchObject({ status: 422, message: expect.stringContaining(`deeper than ${MAX_JSON_DEPTH}`) });
    expect(refusal(nest(200_000)).status).toBe(422);
  });

  it.each(['1e400', '-1e400', '1e-400', '9007199254740992', '12345678901234567890', '0.1000000000000000000001', '2.00000000000000000000000001'])('refuses %s, which a JavaScript number cannot hold exactly', (raw) => {
    expect(refusal(`{"a":{"b":${raw}}}`)).toMatchObject({ status: 422, message: expect.stringMatching(/^a\.b: /) });
  });

  it.each([
    ['9007199254740991', 9007199254740991],
    ['-9007199254740991', -9007199254740991],
    ['5e-324', 5e-324],
    ['1.0', 1],
    ['1E2', 100],
    ['0.1', 0.1],
  ])('accepts %s', (raw, expected) => {
    expect(parseStrictJson(`[${raw}]`)).toEqual([expected]);
  });

  it('refuses duplicate keys with different values, wherever they are, and keeps equal ones once', () => {
    expect(refusal('{"a":1,"a":2}')).toMatchObject({ status: 422, message: expect.stringContaining('"a" appears twice') });
    expect(refusal('[{"x":{"a":"p","a":"q"}}]').status).toBe(422);
    expect(parseStrictJson('{"a":1,"a":1}')).toEqual({ a: 1 });
  });

  it('answers text that is not JSON, or starts with a BOM, with 400 invalid_json', () => {
    for (const bad of ['{', '\ufeff{}', '{"a":"\u0000"}', "{'a':1}", 'NaN']) expect(refusal(bad)).toMatchObject({ status: 400, code: 'invalid_json' });
  });

  it('keeps __proto__ an ordinary key, never a prototype', () => {
    const parsed = parseStrictJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(parsed)).toEqual(['__proto__']);
  });

  it('never quotes a huge key or path in its message', () => {
    const key = 'k'.repeat(100_000);
    expect(refusal(`{"${key}":1,"${key}":2}`).message.length).toBeLessThan(300);
    expect(refusal(JSON.stringify({ [key]: '\u0000' })).message.length).toBeLessThan(300);
  });
});
