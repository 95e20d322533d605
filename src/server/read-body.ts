import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { CountersignError, badRequest } from '../primitives/errors.ts';
import { parseStrictJson } from '../primitives/parse-strict-json.ts';

export const MAX_BODY_BYTES = 256 * 1024;

// Fatal: a body that is not UTF-8 is refused, not silently "repaired" with U+FFFD (RFC 8259
// §8.1 requires UTF-8). The BOM is kept, so webhook signatures cover the exact bytes and a
// JSON body can be refused for it.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The exact request bytes as text: webhook signatures are checked on these, before any parsing. */
export async function readRawBody(ctx: Context): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await getRawBody(ctx.req, { limit: MAX_BODY_BYTES, length: ctx.request.length });
  } catch (error) {
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') throw new CountersignError(413, 'body_too_large', `request body is larger than ${MAX_BODY_BYTES / 1024} KiB`);
    if (type === 'request.aborted') throw badRequest('request_aborted', 'the client closed the request before sending its body');
    throw badRequest('invalid_body', 'could not read the request body');
  }
  try {
    return utf8.decode(bytes);
  } catch {
    throw badRequest('invalid_encoding', 'request body is not valid UTF-8');
  }
}

/**
 * Reads a JSON body as `parseStrictJson` does: a missing, malformed or non-JSON one is a 400
 * (415 for another declared media type), valid JSON the service would not keep exactly a 422
 * naming the path. A body without Content-Type is read as JSON: the API takes nothing else.
 */
export async function readJsonBody(ctx: Context): Promise<unknown> {
  const type = ctx.request.type.trim().toLowerCase();
  if (type !== '' && type !== 'application/json' && !type.endsWith('+json')) {
    throw new CountersignError(415, 'unsupported_media_type', 'Content-Type: expected application/json');
  }
  const charset = ctx.request.charset.toLowerCase();
  if (charset !== '' && charset !== 'utf-8' && charset !== 'utf8') throw new CountersignError(415, 'unsupported_media_type', 'Content-Type: JSON bodies must be UTF-8');
  const text = await readRawBody(ctx);
  if (text.trim() === '') throw badRequest('invalid_json', 'request body is empty; expected a JSON object');
  return parseStrictJson(text);
}
