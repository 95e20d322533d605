import { describe, expect, it } from 'vitest';
import { mappingFileSchema } from '../../../src/projects/mapping-schema.ts';
import type { JiraProject } from '../../../src/providers/jira/jira-statuses.ts';
import { createJiraWebhooks } from '../../../src/providers/jira/jira-webhooks.ts';
import { parseWebhookJson } from '../../../src/providers/parse-webhook-json.ts';

describe('verified webhook bodies with text PostgreSQL cannot store', () => {
  it('read every string, at any depth, as storable text', () => {
    expect(parseWebhookJson('{"a":["x\\u0000y",{"b":"\\ud800\\udc00 \\udc00"}],"n":1}')).toEqual({ a: ['x\uFFFDy', { b: '\u{10000} \uFFFD' }], n: 1 });
  });

  it('give a Jira /reject comment holding NUL and a lone surrogate a storable reason, and a storable event name', async () => {
    const webhooks = createJiraWebhooks({ secret: 's', selfId: async () => 'bot', statuses: { resolve: async () => ({ approvedId: '1', rejectedId: '2', names: new Map() }) }, readIssue: async () => ({ description: null, histories: [] }) });
    const project = mappingFileSchema.parse({ projects: [{ key: 'ops', provider: 'jira', jira: { project: 'OPS', approvedStatus: 'A', rejectedStatus: 'R' }, reviewers: ['acc-alice'] }] }).projects[0] as JiraProject;
    const body = JSON.stringify({ webhookEvent: 'comment_created', comment: { id: '9', author: { accountId: 'acc-alice' }, body: '/reject no\u0000pe \ud800' }, issue: { key: 'OPS-1', fields: { project: { key: 'OPS' } } } });
    const parsed = webhooks.parse(body, {});
    if (parsed.kind !== 'ticket') throw new Error(`not a ticket: ${parsed.kind}`);
    expect(await parsed.activity(project, 'apr_01xyz')).toMatchObject({ kind: 'reject', reason: 'no\uFFFDpe \uFFFD' });
  });
});
