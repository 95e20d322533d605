/**
 * The slice of Octokit the GitHub provider uses, so the adapter depends on what it calls and a
 * type test (test/unit/providers/github/octokit-issues-like.test-d.ts) shows the real client
 * still satisfies it.
 */

export interface GitHubLabel {
  name?: string;
}

export interface GitHubIssue {
  number: number;
  html_url: string;
  body?: string | null;
  state: string;
  state_reason?: string | null;
  labels: (string | GitHubLabel)[];
  user: { login: string } | null;
  comments: number;
  created_at: string;
  updated_at: string;
  pull_request?: unknown;
}

export interface GitHubComment {
  id: number;
  html_url?: string;
  body?: string;
  user: { login: string } | null;
  created_at: string;
}

export interface GitHubIssueEvent {
  id: number;
  event: string;
  actor: { login: string } | null;
  created_at: string;
  label?: { name: string };
  state_reason?: string | null;
}

type Repo = {
  owner: string;
  repo: string;
};
type IssueRef = Repo & {
  issue_number: number;
};
type Page = {
  per_page?: number;
  page?: number;
};

export interface OctokitIssuesLike {
  issues: {
    create: (params: Repo & { title: string; body?: string; labels?: string[]; assignees?: string[] }) => Promise<{ data: GitHubIssue }>;
    update: (params: IssueRef & { state?: 'open' | 'closed'; state_reason?: 'completed' | 'not_planned' | 'reopened' | null; labels?: string[]; body?: string }) => Promise<{ data: GitHubIssue }>;
    listForRepo: (
      params: Repo & Page & { state?: 'open' | 'closed' | 'all'; creator?: string; labels?: string; since?: string; sort?: 'created' | 'updated' | 'comments'; direction?: 'asc' | 'desc' },
    ) => Promise<{ data: GitHubIssue[] }>;
    createComment: (params: IssueRef & { body: string }) => Promise<{ data: { id: number } }>;
    listComments: (params: IssueRef & Page & { since?: string }) => Promise<{ data: GitHubComment[] }>;
    listEvents: (params: IssueRef & Page) => Promise<{ data: GitHubIssueEvent[] }>;
    removeLabel: (params: IssueRef & { name: string }) => Promise<unknown>;
    addLabels: (params: IssueRef & { labels: string[] }) => Promise<unknown>;
    addAssignees: (params: IssueRef & { assignees: string[] }) => Promise<unknown>;
  };
  users: {
    getAuthenticated: () => Promise<{ data: { login: string } }>;
  };
  apps: {
    getAuthenticated: () => Promise<{ data: { slug?: string } | null }>;
  };
}
