/**
 * `owner/repo#12`: the ticket key of a GitHub issue. Lowercased, since GitHub names are
 * case-insensitive and a mapping may spell them differently from a webhook's `repository`.
 */
export const issueKey = (owner: string, repo: string, issueNumber: number) => `${owner}/${repo}#${issueNumber}`.toLowerCase();

export function parseIssueKey(key: string): { owner: string; repo: string; issue_number: number } {
  const match = /^([^/]+)\/([^#]+)#(\d+)$/.exec(key);
  if (!match) throw new Error(`not a GitHub issue key: ${key} (expected owner/repo#number)`);
  return { owner: match[1]!, repo: match[2]!, issue_number: Number(match[3]) };
}

/** GitHub owner and repository names are case-insensitive. */
export const sameRepo = (a: { owner: string; repo: string }, b: { owner: string; repo: string }) =>
  a.owner.toLowerCase() === b.owner.toLowerCase() && a.repo.toLowerCase() === b.repo.toLowerCase();
