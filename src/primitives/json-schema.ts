import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { sha256Hex, canonicalJson } from './canonical-json.ts';

/**
 * JSON Schema (2020-12, ajv) for payloads: the schema an agent sends with a request or an admin
 * writes in the mapping, which an edited payload must satisfy. Formats and remote `$ref`s are
 * not loaded: a schema is about the payload's shape, and validating must never reach the network.
 */
const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false, loadSchema: undefined });

// Compiling is the slow part; the same few schemas come back for every request of a project.
const compiled = new Map<string, ValidateFunction>();
const MAX_CACHED = 256;

/** Why `schema` is not a JSON Schema ajv can use, or `undefined` when it is. */
export function jsonSchemaProblem(schema: unknown): string | undefined {
  try {
    validatorFor(schema);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * What is wrong with `value` under `schema`, one line per problem naming its place
 * (`/amount: must be <= 100`); an empty list when it conforms.
 *
 * @example payloadSchemaErrors({ type: 'object', properties: { amount: { maximum: 100 } } }, { amount: 250 }) // ['/amount: must be <= 100']
 */
export function payloadSchemaErrors(schema: unknown, value: unknown): string[] {
  const validate = validatorFor(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map((error) => `${error.instancePath || '(payload)'}: ${error.message ?? 'is not valid'}`);
}

function validatorFor(schema: unknown): ValidateFunction {
  if (schema === null || (typeof schema !== 'object' && typeof schema !== 'boolean')) throw new Error('a JSON Schema is an object (or true / false)');
  const key = sha256Hex(canonicalJson(schema));
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(schema as object);
    if (compiled.size >= MAX_CACHED) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, validate);
  }
  return validate;
}
