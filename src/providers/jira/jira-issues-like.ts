/**
 * The slice of jira.js's `Version3Client` the Jira provider uses, so the adapter depends on what
 * it calls and a type test (test/unit/providers/jira/jira-issues-like.test-d.ts) shows the real
 * client still satisfies it. Shapes follow Jira Cloud REST v3; only the fields read are typed.
 */

/** Atlassian Document Format node (v3 `description` and comment `body`). */
export interface AdfNode {
  type: string;
  version?: number;
  content?: AdfNode[];
  text?: string;
  attrs?: Record<string, unknown>;
  marks?: { type: string; attrs?: Record<string, unknown> }[];
}
export type AdfDocument = AdfNode & { type: 'doc'; version: 1 };

export interface JiraUser {
  accountId?: string;
  /** Jira Data Center users carry `name` and `key` instead of `accountId`. */
  name?: string;
  key?: string;
  displayName?: string;
}

export interface JiraStatus {
  id?: string;
  name?: string;
}

export interface JiraChangeItem {
  field?: string;
  fieldId?: string;
  from?: string | null;
  fromString?: string | null;
  to?: string | null;
  toString?: string | null;
}

export interface JiraHistory {
  id?: string;
  author?: JiraUser;
  created?: string;
  items?: JiraChangeItem[];
}

export interface JiraComment {
  id?: string;
  author?: JiraUser;
  /** ADF from REST v3; a wiki-markup string in webhooks and on Data Center. */
  body?: unknown;
  created?: string;
}

export interface JiraIssue {
  id: string;
  key: string;
  /** The issue's REST URL; its origin is the site's browse base. */
  self?: string;
  fields: {
    status?: JiraStatus;
    labels?: string[];
    creator?: JiraUser;
    comment?: { comments?: JiraComment[] };
    /** ADF from REST v3; a wiki-markup string (or absent) in webhooks that carry the v2 form. */
    description?: unknown;
    [field: string]: unknown;
  };
  changelog?: { histories?: JiraHistory[] };
}

export interface JiraTransition {
  id?: string;
  name?: string;
  to?: JiraStatus;
}

export interface JiraIssuesLike {
  issues: {
    createIssue(parameters: {
      fields: { summary: string; project: { key?: string }; issuetype: { name?: string }; description?: AdfDocument; labels?: string[]; assignee?: { accountId?: string } };
    }): Promise<{ id: string; key: string; self: string }>;
    editIssue(parameters: { issueIdOrKey: string; fields?: { assignee?: { accountId?: string }; description?: AdfDocument }; update?: unknown; returnIssue?: boolean; notifyUsers?: boolean }): Promise<unknown>;
    getIssue(parameters: { issueIdOrKey: string; fields?: string[]; expand?: string }): Promise<JiraIssue>;
    getTransitions(parameters: { issueIdOrKey: string }): Promise<{ transitions?: JiraTransition[] }>;
    doTransition(parameters: { issueIdOrKey: string; transition: { id?: string } }): Promise<unknown>;
  };
  issueComments: {
    addComment(parameters: { issueIdOrKey: string; comment?: string | AdfDocument }): Promise<{ id?: string }>;
  };
  issueSearch: {
    searchForIssuesUsingJqlEnhancedSearchPost(parameters: {
      jql?: string;
      fields?: string[];
      expand?: string;
      maxResults?: number;
      nextPageToken?: string;
    }): Promise<{ issues?: JiraIssue[]; nextPageToken?: string }>;
  };
  projects: {
    getAllStatuses(parameters: { projectIdOrKey: string }): Promise<{ id: string; name: string; statuses: JiraStatus[] }[]>;
  };
  myself: {
    getCurrentUser(): Promise<JiraUser>;
  };
}
