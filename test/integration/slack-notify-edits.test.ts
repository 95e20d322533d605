import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { payloadHash } from '../../src/primitives/canonical-json.ts';
import { readPayloadBlock } from '../../src/providers/jira/jira-issue-description.ts';
import { payloadJson } from '../../src/providers/requester-text.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeJira, type FakeJira } from '../helpers/fake-jira.ts';
import { startFakeSlack, type FakeSlack, type SignedRequest } from '../helpers/fake-slack.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

const CHANNEL = 'C0NOTIFY2';
const ALICE = 'U0ALICE02';
const PEOPLE = [{ id: 'alice', jira: 'acc-alice', slack: ALICE }];
const refund = { to: 'ops@acme.example', amount: 80 };

/** The notify.slack channel's edit path: "Approve with changes…" on a notice for a Jira-ticketed request. */
describeEachDatabase('approve with changes from a notify.slack notice', (database) => {
  let jira: FakeJira;
  let slack: FakeSlack;
  let server: TestServer;
  let agentKey: string;

  beforeAll(async () => {
    jira = await startFakeJira({ secret: 'notify-edits-secret' });
    slack = await startFakeSlack({ channels: [CHANNEL] });
    server = await startTestServer(database, { env: { ...jira.serverEnv, ...slack.serverEnv } });
    const mapping = { provider: 'jira', jira: { project: 'OPS', issueType: 'Task', approvedStatus: 'Approved', rejectedStatus: 'Rejected' } };
    await server.projects([{ key: 'ops-edits', ...mapping, reviewers: ['alice'], allowEdits: true, notify: { slack: { channel: CHANNEL } } }], PEOPLE);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await slack?.stop();
    await jira?.stop();
  });

  const read = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;
  const interact = async (signed: SignedRequest) => {
    const response = await server.fetch('/webhooks/slack/interactions', { method: 'POST', body: signed.body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...signed.headers } });
    expect(response.status).toBe(200);
  };

  it('the notice’s modal approves the edited payload, and the Jira description is rewritten with it', async () => {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'ops-edits', action: 'refund', summary: 'Refund the order', payload: refund } });
    const { id } = (await response.json()) as { id: string };
    const view = await until(() => read(id), (v) => v.ticket !== null);
    const message = (await until(() => slack.messageFor(id), (m) => m !== undefined))!;

    await interact(slack.click(message, ALICE, 'countersign_approve_options'));
    await until(() => slack.views.length, (n) => n > 0);
    const edited = { ...refund, amount: 30 };
    await interact(slack.submitView(ALICE, { payload: { payload_input: { type: 'plain_text_input', value: JSON.stringify(edited) } } }));
    const decided = await until(() => read(id), (v) => v.status !== 'pending');
    expect(decided).toMatchObject({ status: 'approved', payload: edited, payloadHash: payloadHash(edited), originalPayloadHash: payloadHash(refund), decision: { by: ['alice'], patch: [{ op: 'replace', path: '/amount', value: 30 }] } });
    await until(() => readPayloadBlock(jira.issues.get(view.ticket!.key)!.description), (block) => block === payloadJson(edited));
  });
});
