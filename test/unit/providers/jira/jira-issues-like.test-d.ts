import type { Version3Client } from 'jira.js';
import { expectTypeOf, test } from 'vitest';
import type { JiraClient } from '../../../../src/providers/jira/jira-client.ts';
import type { JiraIssuesLike } from '../../../../src/providers/jira/jira-issues-like.ts';

test('the real jira.js Version3Client satisfies the slice the adapter uses', () => {
  expectTypeOf<Version3Client>().toExtend<JiraIssuesLike>();
  expectTypeOf<Version3Client['issues']['createIssue']>().toExtend<JiraIssuesLike['issues']['createIssue']>();
  expectTypeOf<Version3Client['issueSearch']['searchForIssuesUsingJqlEnhancedSearchPost']>().toExtend<JiraIssuesLike['issueSearch']['searchForIssuesUsingJqlEnhancedSearchPost']>();
  expectTypeOf<Version3Client['issueComments']['addComment']>().toExtend<JiraIssuesLike['issueComments']['addComment']>();
});

test('the retrying client the server builds is still a Version3Client', () => {
  expectTypeOf<JiraClient>().toExtend<Version3Client>();
  expectTypeOf<JiraClient>().toExtend<JiraIssuesLike>();
});
