import type { WitnessStore } from './witness-store.ts';

/**
 * The comments of one issue, as the GitHub witness needs them. Implemented over Octokit in
 * src/providers/github/github-issue-comments.ts (Octokit stays inside src/providers).
 */
export interface IssueComments {
  /** Every comment's body and link, oldest first; `since`: only those updated after it. */
  list(options?: { since?: Date }): Promise<Array<{ body: string; url: string }>>;
  create(body: string): Promise<void>;
}

/** Marks a comment as a checkpoint; others on the issue (people discussing it) are left alone. */
const MARKER = '<!-- countersign:audit-checkpoint -->';
const FENCE = /```text\n([\s\S]*?)```/;

/** How far back a publish looks for the same checkpoint (a retry after the comment was made but its answer lost). */
const RECENT_MS = 24 * 60 * 60 * 1000;

export const checkpointComment = (treeSize: number, note: string) =>
  `${MARKER}\nCountersign audit checkpoint, tree size ${treeSize}. Keep this issue locked to collaborators; \`countersign audit verify --witness\` reads these comments.\n\n\`\`\`text\n${note}\`\`\`\n`;

/** Checkpoints as comments on one issue: published through a retried job, read back for `audit verify --witness`. */
export function createGitHubWitness(spec: string, comments: IssueComments, now: () => Date = () => new Date()): WitnessStore {
  const notesIn = (list: Array<{ body: string; url: string }>) =>
    list.flatMap(({ body, url }) => {
      if (!body.startsWith(MARKER)) return [];
      const match = FENCE.exec(body);
      // A marked comment whose checkpoint cannot be read is still named: verify then fails on it.
      return [{ name: url, note: match ? match[1]! : body }];
    });
  return {
    spec,
    async publish({ treeSize, note }) {
      const recent = notesIn(await comments.list({ since: new Date(now().getTime() - RECENT_MS) }));
      if (recent.some((held) => held.note === note)) return;
      await comments.create(checkpointComment(treeSize, note));
    },
    async read() {
      return notesIn(await comments.list());
    },
  };
}
