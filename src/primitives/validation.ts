import type { z } from 'zod';
import { unprocessable } from './errors.ts';

const MAX_PATH_PARTS = 12;
const MAX_KEY_CHARS = 40;

/**
 * `projects[0].reviewers` from zod's `['projects', 0, 'reviewers']`. A path into hostile
 * input can be 64 levels deep or hold a 200 KiB key: it is cut short (`…`), enough to find
 * the field without echoing the input back.
 */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  const shown = path.slice(0, MAX_PATH_PARTS).reduce<string>((out, part) => {
    if (typeof part === 'number') return `${out}[${part}]`;
    const key = String(part);
    const short = key.length > MAX_KEY_CHARS ? `${key.slice(0, MAX_KEY_CHARS)}…` : key;
    return out ? `${out}.${short}` : short;
  }, '');
  return path.length > MAX_PATH_PARTS ? `${shown}…` : shown;
}

/** One line per problem, each naming the field: `projects[0].reviewers: expected array, received string`. */
export function formatIssues(error: z.ZodError, root = ''): string[] {
  return error.issues.map((issue) => {
    const where = formatPath([...(root ? [root] : []), ...issue.path]);
    const message = issue.message.replace(/^Invalid input: /, '');
    return where ? `${where}: ${message}` : message;
  });
}

/** A request body as `schema` reads it, or a 422 `invalid_request` naming every bad field. */
export function parseRequestBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw unprocessable('invalid_request', formatIssues(parsed.error).join('; '));
  return parsed.data;
}
