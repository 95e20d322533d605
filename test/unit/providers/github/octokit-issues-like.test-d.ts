import { expectTypeOf, test } from 'vitest';
import type { GitHubClient } from '../../../../src/providers/github/github-client.ts';
import type { OctokitIssuesLike } from '../../../../src/providers/github/octokit-issues-like.ts';

test('the real Octokit client (with its plugins) satisfies the slice the adapter uses', () => {
  expectTypeOf<GitHubClient>().toExtend<OctokitIssuesLike>();
  expectTypeOf<GitHubClient['issues']['create']>().toExtend<OctokitIssuesLike['issues']['create']>();
});
