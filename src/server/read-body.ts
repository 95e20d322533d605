import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { CountersignError, badRequest } from '../errors.ts';

export const MAX_BODY_BYTES = 256 * 1024;

/** The exact request bytes as text: webhook signatures are checked on these, before any parsing. */
export async function readRawBody(ctx: Context): Promise<string> {
  try {
    return await getRawBody(ctx.req, { limit: MAX_BODY_BYTES, encoding: 'utf8', length: ctx.request.length });
  } catch (error) {
    const type = (error as { type?: string }).type;
    if (type === 'entity.too.large') throw new CountersignError(413, 'body_too_large', `request body is larger than ${MAX_BODY_BYTES / 1024} KiB`);
    if (type === 'request.aborted') throw badRequest('request_aborted', 'the client closed the request before sending its body');
    throw badRequest('invalid_body', 'could not read the request body');
  }
}

/** Reads and parses a JSON body; a missing or malformed one is a 400 that names the problem. */
export async function readJsonBody(ctx: Context): Promise<unknown> {
  const text = await readRawBody(ctx);
  if (text.trim() === '') throw badRequest('invalid_json', 'request body is empty; expected a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw badRequest('invalid_json', `request body is not valid JSON: ${(error as Error).message}`);
  }
}
