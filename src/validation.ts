import type { z } from 'zod';

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
