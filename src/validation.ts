import type { z } from 'zod';
import { unprocessable } from './errors.ts';

/** `projects[0].reviewers` from zod's `['projects', 0, 'reviewers']`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((out, part) => (typeof part === 'number' ? `${out}[${part}]` : out ? `${out}.${String(part)}` : String(part)), '');
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
