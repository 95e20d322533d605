import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { payloadHash } from '../../src/primitives/canonical-json.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type Delivery, type FakeGitHub } from '../helpers/fake-github.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'edits-webhook-secret';
const refund = { to: 'ops@acme.example', amount: 80 };

describeEachDatabase('approving with changes, and standing grants, on a GitHub issue', (database) => {
  let fake: FakeGitHub;
  let server: TestServer;
  let agentKey: string;

  beforeAll(async () => {
    fake = await startFakeGitHub({ secret: SECRET });
    server = await startTestServer(database, { env: fake.serverEnv });
    const github = { owner: fake.owner, repo: fake.repo };
    const amountAtMost100 = { type: 'object', properties: { amount: { type: 'number', maximum: 100 } } };
    await server.projects([
      { key: 'editable', provider: 'github', github, reviewers: ['alice', 'bob'], allowEdits: true, payloadSchema: amountAtMost100 },
      { key: 'fixed', provider: 'github', github, reviewers: ['alice'] },
      { key: 'granting', provider: 'github', github, reviewers: ['alice'], grants: { maxHours: 24 } },
    ]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await fake?.stop();
  });

  const get = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;
  const deliver = async (delivery: Delivery) => {
    const headers = { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id, 'x-hub-signature-256': await fake.sign(delivery.body) };
    const response = await fetch(`${server.url}/webhooks/github`, { method: 'POST', headers, body: delivery.body });
    expect(response.status).toBe(202);
  };
  const request = async (project: string) => {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project, action: 'refund', summary: 'Refund the order', payload: refund } });
    const { id } = (await response.json()) as { id: string };
    const view = await until(() => get(id), (v) => v.ticket !== null);
    return { id, issue: Number(view.ticket!.key.split('#')[1]) };
  };
  /** The body with its payload block holding `payload` (or raw text) instead of the agent's. */
  const bodyWith = (issue: number, payload: unknown) => fake.issues.get(issue)!.body.replace(JSON.stringify(refund, null, 2), typeof payload === 'string' ? payload : JSON.stringify(payload, null, 2));
  /** Edits are applied after the webhook is acknowledged, as a person's next click would find them. */
  const seenEdit = (id: string, editor: string) =>
    until(() => server.services.db.selectFrom('ticket_edits').select('editor').where('approval_id', '=', id).executeTakeFirst(), (row) => row?.editor === editor);
  const comments = (issue: number) => fake.issues.get(issue)!.comments.map((c) => c.body);
  const refusedWith = async (issue: number, text: string) => until(() => comments(issue), (all) => all.some((c) => c.includes(text)));

  it('a reviewer edits the payload block and approves: the edit is approved and the body rewritten in canonical form', async () => {
    const { id, issue } = await request('editable');
    const edited = { to: 'billing@acme.example', amount: 60 };
    await deliver(fake.editBody(issue, bodyWith(issue, { amount: 60, to: 'billing@acme.example' }), 'alice'));
    await seenEdit(id, 'alice');
    await deliver(fake.label(issue, 'approved', 'alice'));
    const view = await until(() => get(id), (v) => v.status !== 'pending').catch((error: Error) => {
      throw new Error(`${error.message}\ncomments: ${JSON.stringify(comments(issue))}`);
    });
    expect(view).toMatchObject({ status: 'approved', payload: edited, payloadHash: payloadHash(edited), originalPayloadHash: payloadHash(refund) });
    await until(() => fake.issues.get(issue)!.body, (body) => body.includes(payloadHash(edited)));
    expect(fake.issues.get(issue)!.body).toContain(JSON.stringify(edited, null, 2));
  });

  it('an edit by someone who is not a reviewer is put back at once, and the approval that follows approves the agent’s payload', async () => {
    const { id, issue } = await request('editable');
    await deliver(fake.editBody(issue, bodyWith(issue, { ...refund, to: 'mallory@evil.example' }), 'mallory'));
    await refusedWith(issue, 'only reviewers of the project may change the payload');
    await until(() => fake.issues.get(issue)!.body, (body) => body.includes(JSON.stringify(refund, null, 2)) && !body.includes('mallory@evil.example'));
    await deliver(fake.label(issue, 'approved', 'alice'));
    expect(await until(() => get(id), (v) => v.status !== 'pending')).toMatchObject({ status: 'approved', payloadHash: payloadHash(refund) });
  });

  /** An approval after `edit`, refused with `text`: the approval stays pending on the agent's payload, the label is taken off. */
  async function refusedAfter(edit: (target: { id: string; issue: number }) => Promise<void>, text: string) {
    const target = await request('editable');
    await edit(target);
    await deliver(fake.label(target.issue, 'approved', 'alice'));
    await refusedWith(target.issue, text);
    expect(await get(target.id)).toMatchObject({ status: 'pending', payloadHash: payloadHash(refund) });
    await until(() => fake.issues.get(target.issue)!.labels, (labels) => !labels.includes('approved'));
  }

  it('refuses to approve an edit its approver did not make', async () => {
    await refusedAfter(async ({ id, issue }) => {
      await deliver(fake.editBody(issue, bodyWith(issue, { ...refund, amount: 10 }), 'bob'));
      await seenEdit(id, 'bob');
    }, 'the payload block was last changed by bob');
  });

  it('refuses to approve an edit whose own webhook Countersign has not seen', async () => {
    // The edit's webhook never arrives: whoever made it, the approval cannot be taken as an edit.
    await refusedAfter(async ({ issue }) => void fake.editBody(issue, bodyWith(issue, { ...refund, amount: 5 }), 'mallory'), 'has not yet seen who changed the payload block');
  });

  it('refuses an edit that is not JSON, or breaks the payload schema', async () => {
    await refusedAfter(async ({ id, issue }) => {
      await deliver(fake.editBody(issue, bodyWith(issue, '{"amount": 5,'), 'alice'));
      await seenEdit(id, 'alice');
    }, 'the payload block is not valid JSON');
    await refusedAfter(async ({ id, issue }) => {
      await deliver(fake.editBody(issue, bodyWith(issue, { ...refund, amount: 500 }), 'alice'));
      await seenEdit(id, 'alice');
    }, '/amount: must be <= 100');
  });

  it('`/approve for 8h` approves and grants the same for 8 hours; beyond the project’s maxHours it is refused on the issue', async () => {
    const first = await request('granting');
    await deliver(fake.comment(first.issue, '/approve for 8h the usual refund', 'alice'));
    const approved = await until(() => get(first.id), (v) => v.status !== 'pending');
    expect(approved.decision).toMatchObject({ by: ['alice'], reason: 'the usual refund' });
    expect(approved.decision!.grant!.id).toMatch(/^grt_/);
    const expires = Date.parse(approved.decision!.grant!.expiresAt) - Date.parse(approved.decision!.at);
    expect(Math.round(expires / 3_600_000)).toBe(8);
    const next = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'granting', action: 'refund', summary: 'Refund the order', payload: refund } });
    expect(((await next.json()) as { status: string }).status).toBe('approved');

    await server.services.db.updateTable('grants').set({ revoked_at: new Date(), revoked_by: 'test' }).execute();
    const second = await request('granting');
    await deliver(fake.comment(second.issue, '/approve for 2d', 'alice'));
    await refusedWith(second.issue, 'at most 24 hours');
    expect((await get(second.id)).status).toBe('pending');
  });

  it('on a project without allowEdits, a changed payload block is put back and its approval refused', async () => {
    const { id, issue } = await request('fixed');
    await deliver(fake.editBody(issue, bodyWith(issue, { ...refund, amount: 1 }), 'alice'));
    await refusedWith(issue, 'does not allow approving with changes');
    await until(() => fake.issues.get(issue)!.body, (body) => body.includes(JSON.stringify(refund, null, 2)));
    await deliver(fake.label(issue, 'approved', 'alice'));
    expect(await until(() => get(id), (v) => v.status !== 'pending')).toMatchObject({ status: 'approved', payloadHash: payloadHash(refund) });
  });
});
