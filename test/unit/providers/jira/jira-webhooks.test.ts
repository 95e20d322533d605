import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mappingFileSchema } from '../../../../src/projects/mapping-schema.ts';
import { retryAfterSeconds } from '../../../../src/providers/jira/jira-client.ts';
import { readApprovalLabel } from '../../../../src/providers/jira/jira-issue-description.ts';
import type { JiraProject } from '../../../../src/providers/jira/jira-statuses.ts';
import type { JiraChangeItem } from '../../../../src/providers/jira/jira-issues-like.ts';
import { createJiraWebhooks, type IssueReading } from '../../../../src/providers/jira/jira-webhooks.ts';

const SELF = '557058:bot';
const webhooks = createJiraWebhooks({
  secret: 'current',
  additionalSecrets: ['previous'],
  selfId: async () => SELF,
  statuses: { resolve: async () => ({ approvedId: '10100', rejectedId: '10101', names: new Map() }) },
  readIssue: async () => reading,
});
/** What `readIssue` answers: the issue as REST v3 shows it now. */
let reading: IssueReading = { description: null, histories: [] };
const project = mappingFileSchema.parse({
  projects: [{ key: 'ops', provider: 'jira', jira: { project: 'OPS', approvedStatus: 'Approved', rejectedStatus: 'Rejected' }, reviewers: ['acc-alice'] }],
}).projects[0] as JiraProject;
const sign = (body: string, secret = 'current') => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

const updated = (to: string, actor: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    webhookEvent: 'jira:issue_updated',
    issue_event_type_name: 'issue_generic',
    user: { accountId: actor },
    issue: { id: '10001', key: 'OPS-1', fields: { labels: ['countersign', 'countersign-apr_01abc'], creator: { accountId: SELF }, project: { key: 'OPS' } } },
    changelog: { id: '777', items: [{ field: 'status', fieldtype: 'jira', fieldId: 'status', from: '10000', fromString: 'To Do', to, toString: 'x' }] },
    ...extra,
  });

describe('Jira webhooks', () => {
  it('accepts the current and a previous secret, and nothing else', async () => {
    const body = updated('10100', 'acc-alice');
    expect(await webhooks.verify(body, { 'x-hub-signature': sign(body) })).toBe(true);
    expect(await webhooks.verify(body, { 'x-hub-signature': sign(body, 'previous') })).toBe(true);
    expect(await webhooks.verify(body, { 'x-hub-signature': sign(body, 'other') })).toBe(false);
    expect(await webhooks.verify(body, { 'x-hub-signature': 'sha256=abc' })).toBe(false);
    expect(await webhooks.verify(body, {})).toBe(false);
    expect(await webhooks.verify(`${body} `, { 'x-hub-signature': sign(body) })).toBe(false);
  });

  it('reads a move to the approved status id as a vote that can be put back', async () => {
    const parsed = webhooks.parse(updated('10100', 'acc-alice'), {});
    expect(parsed).toMatchObject({ kind: 'ticket', approvalId: 'apr_01abc', ticketKey: 'OPS-1', event: 'jira:issue_updated' });
    if (parsed.kind !== 'ticket') throw new Error('not a ticket');
    expect(await parsed.activity(project, 'apr_01abc')).toEqual({
      approvalId: 'apr_01abc',
      ticketKey: 'OPS-1',
      actor: 'acc-alice',
      kind: 'approve',
      reason: null,
      id: 'changelog:777',
      revert: 'status:10000',
    });
  });

  it('ignores other statuses, its own moves, issues opened by someone else, and edits without a status change', async () => {
    const activity = async (body: string) => {
      const parsed = webhooks.parse(body, {});
      return parsed.kind === 'ticket' ? parsed.activity(project, 'apr_01abc') : parsed.kind;
    };
    expect(await activity(updated('3', 'acc-alice'))).toBeNull();
    expect(await activity(updated('10100', SELF))).toBeNull();
    expect(await activity(updated('10100', 'acc-alice', { issue: { key: 'OPS-1', fields: { labels: ['countersign-apr_01abc'], creator: { accountId: 'acc-eve' } } } }))).toBeNull();
    expect(await activity(updated('10100', 'acc-alice', { changelog: { id: '1', items: [{ field: 'summary', from: null, to: null }] } }))).toBe('ignored');
    expect(await activity(updated('10100', 'acc-alice', { issue: { key: 'OPS-1', fields: { labels: ['other'] } } }))).toBe('ignored');
    expect(await activity(JSON.stringify({ webhookEvent: 'jira:issue_created', issue: { key: 'OPS-2' } }))).toBe('ignored');
  });

  it('reads /approve and /reject comments, names the ticket by key when the slim issue has no labels', async () => {
    const body = JSON.stringify({ webhookEvent: 'comment_created', comment: { id: '55', author: { accountId: 'acc-alice' }, body: '/reject too risky\nmore text' }, issue: { id: '10001', key: 'OPS-1', fields: { project: { key: 'OPS' } } } });
    const parsed = webhooks.parse(body, {});
    expect(parsed).toMatchObject({ kind: 'ticket', approvalId: undefined, ticketKey: 'OPS-1' });
    if (parsed.kind !== 'ticket') throw new Error('not a ticket');
    expect(await parsed.activity(project, 'apr_01xyz')).toMatchObject({ approvalId: 'apr_01xyz', kind: 'reject', reason: 'too risky', id: 'comment:55', actor: 'acc-alice' });
    const chatter = JSON.stringify({ webhookEvent: 'comment_created', comment: { id: '56', author: { accountId: 'acc-alice' }, body: 'I will /approve later' }, issue: { key: 'OPS-1' } });
    expect(webhooks.parse(chatter, {}).kind).toBe('ignored');
  });

  it('uses X-Atlassian-Webhook-Identifier as the delivery id', () => {
    expect(webhooks.deliveryId({ 'x-atlassian-webhook-identifier': 'abc-1' })).toBe('abc-1');
    expect(webhooks.deliveryId({})).toBeUndefined();
  });
});

describe('Jira description edits and the payload an approval carries', () => {
  const editable = mappingFileSchema.parse({
    projects: [{ key: 'ops', provider: 'jira', jira: { project: 'OPS', approvedStatus: 'Approved', rejectedStatus: 'Rejected' }, reviewers: ['acc-alice'], allowEdits: true }],
  }).projects[0] as JiraProject;
  const adf = (block: string) => ({ type: 'doc', version: 1, content: [{ type: 'heading', attrs: { level: 3 }, content: [{ type: 'text', text: 'Payload' }] }, { type: 'codeBlock', attrs: { language: 'json' }, content: [{ type: 'text', text: block }] }] });
  const descriptionItem = { field: 'description', fieldtype: 'jira', fieldId: 'description', from: null, fromString: 'old', to: null, toString: 'new' };
  const issueWith = (description: unknown) => ({ id: '10001', key: 'OPS-1', fields: { labels: ['countersign', 'countersign-apr_01abc'], creator: { accountId: SELF }, project: { key: 'OPS' }, description } });
  const edit = (description: unknown, id = '800') => JSON.stringify({ webhookEvent: 'jira:issue_updated', timestamp: 1_000, user: { accountId: 'acc-alice' }, issue: issueWith(description), changelog: { id, items: [descriptionItem] } });
  const activityOf = async (body: string, of = editable) => {
    const parsed = webhooks.parse(body, {});
    if (parsed.kind !== 'ticket') throw new Error(`not a ticket: ${JSON.stringify(parsed)}`);
    return parsed.activity(of, 'apr_01abc');
  };
  const history = (id: string, created: number, items: JiraChangeItem[] = [descriptionItem]) => ({ id, author: { accountId: 'acc-bob' }, created: new Date(created).toISOString().replace('Z', '+0000'), items });
  const block = (text: string) => ({ text, bodyHash: createHash('sha256').update(text).digest('hex') });

  it('reads an edit from the webhook’s ADF, named by its changelog id', async () => {
    expect(await activityOf(edit(adf('{"amount": 60}')))).toEqual({ approvalId: 'apr_01abc', ticketKey: 'OPS-1', actor: 'acc-alice', kind: 'edited', reason: null, id: 'description:800', ticketPayload: block('{"amount": 60}') });
  });

  it('reads a webhook without ADF (wiki text, or none) from REST, unless a later edit overtook it', async () => {
    reading = { description: adf('{"amount": 50}'), histories: [history('800', 1_000)] };
    expect(await activityOf(edit('h3. Payload\n{code:json}{"amount": 1}{code}'))).toMatchObject({ kind: 'edited', id: 'description:800', ticketPayload: block('{"amount": 50}') });
    reading = { description: adf('{"amount": 40}'), histories: [history('800', 1_000), history('801', 2_000)] };
    expect(await activityOf(edit(undefined))).toBeNull();
  });

  it('gives a move to the approved status the block its webhook shows, or the one REST shows if nothing changed since, or refuses it', async () => {
    const approve = (description: unknown) => updated('10100', 'acc-alice', { timestamp: 5_000, issue: issueWith(description) });
    expect(await activityOf(approve(adf('{"amount": 60}')))).toMatchObject({ kind: 'approve', id: 'changelog:777', ticketPayload: block('{"amount": 60}') });
    reading = { description: adf('{"amount": 70}'), histories: [history('700', 1_000), history('777', 5_000, [{ field: 'status', fieldId: 'status', from: '10000', to: '10100', toString: 'Approved' }])] };
    expect(await activityOf(approve('wiki text'))).toMatchObject({ kind: 'approve', ticketPayload: block('{"amount": 70}') });
    reading = { description: adf('{"amount": 70}'), histories: [history('700', 1_000), history('778', 5_001)] };
    const late = await activityOf(approve('wiki text'));
    expect(late).toMatchObject({ kind: 'approve', unseenPayload: expect.stringContaining('the description changed after this approval') });
    expect(late).not.toHaveProperty('ticketPayload');
    // A project without allowEdits never reads the block on approval, and makes no call for it.
    reading = { description: 'not read', histories: [history('779', 9_000)] };
    expect(await activityOf(approve('wiki text'), project)).not.toHaveProperty('unseenPayload');
  });

  it('gives an /approve comment the block REST shows, judged by the comment’s own time', async () => {
    const comment = (created: number) => JSON.stringify({ webhookEvent: 'comment_created', comment: { id: '56', author: { accountId: 'acc-alice' }, body: '/approve', created: new Date(created).toISOString().replace('Z', '+0000') }, issue: { id: '10001', key: 'OPS-1', fields: { project: { key: 'OPS' } } } });
    reading = { description: adf('{"amount": 65}'), histories: [history('700', 1_000)] };
    expect(await activityOf(comment(2_000))).toMatchObject({ kind: 'approve', id: 'comment:56', ticketPayload: block('{"amount": 65}') });
    expect(await activityOf(comment(1_000))).toMatchObject({ kind: 'approve', unseenPayload: expect.any(String) });
  });
});

describe('Jira helpers', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterSeconds('5')).toBe(5);
    expect(retryAfterSeconds(new Date(10_000).toUTCString(), 0)).toBe(10);
    expect(retryAfterSeconds(undefined)).toBeUndefined();
    expect(retryAfterSeconds('soon')).toBeUndefined();
  });

  it('finds the approval id in the labels', () => {
    expect(readApprovalLabel(['countersign', 'countersign-apr_01abc', 'risk:high'])).toBe('apr_01abc');
    expect(readApprovalLabel(['countersign'])).toBeUndefined();
  });
});
