import type { OctokitIssuesLike } from './octokit-issues-like.ts';

const PER_PAGE = 100;

/**
 * The comments of one issue, read and written through the provider's Octokit client (with
 * its rate-limit and retry handling): what the audit log's GitHub witness stores checkpoints
 * in (src/audit/witness/github-witness.ts declares the shape it needs).
 */
export function createGitHubIssueComments(client: OctokitIssuesLike, target: { owner: string; repo: string; issue: number }) {
  const ref = { owner: target.owner, repo: target.repo, issue_number: target.issue };
  return {
    async list(options: { since?: Date } = {}): Promise<Array<{ body: string; url: string }>> {
      const comments: Array<{ body: string; url: string }> = [];
      for (let page = 1; ; page++) {
        const { data } = await client.issues.listComments({ ...ref, per_page: PER_PAGE, page, ...(options.since ? { since: options.since.toISOString() } : {}) });
        for (const comment of data) comments.push({ body: comment.body ?? '', url: comment.html_url ?? `${target.owner}/${target.repo}#${target.issue} comment ${comment.id}` });
        if (data.length < PER_PAGE) return comments;
      }
    },
    async create(body: string): Promise<void> {
      await client.issues.createComment({ ...ref, body });
    },
  };
}
