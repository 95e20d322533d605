import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { payloadHash } from '../../src/primitives/canonical-json.ts';
import { plainText, readPayloadBlock } from '../../src/providers/jira/jira-issue-description.ts';
import type { AdfDocument } from '../../src/providers/jira/jira-issues-like.ts';
import { payloadJson } from '../../src/providers/requester-text.ts';
import { runReconcileTickets } from '../../src/tickets/reconcile-tickets.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeJira, type Delivery, type FakeJira } from '../helpers/fake-jira.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'jira-edits-webhook-secret';
const ALICE = 'acc-alice';
const BOB = 'acc-bob';
const MALLORY = 'acc-mallory';
const refund = { to: 'ops@acme.example', amount: 80 };

describeEachDatabase('approving with changes on a Jira issue: the reviewer edits the payload block in the description', (database) => {
  let jira: FakeJira;
  let server: TestServer;
  let agentKey: string;

  beforeAll(async () => {
    jira = await startFakeJira({ secret: SECRET });
    server = await startTestServer(database, { env: jira.serverEnv });
    const mapping = { provider: 'jira', jira: { project: 'OPS', issueType: 'Task', approvedStatus: 'Approved', rejectedStatus: 'Rejected' } };
    const amountAtMost100 = { type: 'object', properties: { amount: { type: 'number', maximum: 100 } } };
    await server.projects([
      { key: 'editable', ...mapping, reviewers: [ALICE, BOB], allowEdits: true, payloadSchema: amountAtMost100 },
      { key: 'quorum', ...mapping, reviewers: [ALICE, BOB], requiredApprovals: 2, allowEdits: true },
      { key: 'fixed', ...mapping, reviewers: [ALICE] },
    ]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await jira?.stop();
  });

  const get = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;
  const deliver = async (delivery: Delivery, headers = jira.headers(delivery)) => {
    const response = await fetch(`${server.url}/webhooks/jira`, { method: 'POST', headers, body: delivery.body });
    expect(response.status).toBeLessThan(300);
    return (await response.json()) as Record<string, unknown>;
  };
  const request = async (project: string) => {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project, action: 'refund', summary: 'Refund the order', payload: refund } });
    const { id } = (await response.json()) as { id: string };
    const view = await until(() => get(id), (v) => v.ticket !== null);
    return { id, key: view.ticket!.key };
  };
  const description = (key: string) => jira.issues.get(key)!.description as AdfDocument;
  /** The issue's description with its payload block holding `payload` (or raw text), as a reviewer leaves it in Jira's editor. */
  const descriptionWith = (key: string, payload: unknown): AdfDocument => {
    const edited = structuredClone(description(key));
    const at = edited.content!.findIndex((node) => node.type === 'heading' && plainText(node).trim() === 'Payload');
    edited.content![at + 1] = { type: 'codeBlock', attrs: { language: 'json' }, content: [{ type: 'text', text: typeof payload === 'string' ? payload : JSON.stringify(payload) }] };
    return edited;
  };
  const edit = (key: string, payload: unknown, actor: string) => jira.editDescription(key, descriptionWith(key, payload), actor);
  /** Edits are applied after the webhook is acknowledged, as a person's next click would find them. */
  const seenEdit = (id: string, editor: string) =>
    until(() => server.services.db.selectFrom('ticket_edits').select(['editor', 'body_hash']).where('approval_id', '=', id).executeTakeFirst(), (row) => row?.editor === editor);
  const ownComments = (key: string) => jira.issues.get(key)!.comments.filter((c) => c.author === jira.selfId).map((c) => plainText(c.body));
  const refusedWith = (key: string, text: string) => until(() => ownComments(key), (all) => all.some((c) => c.includes(text)));
  const shownBlock = (key: string) => readPayloadBlock(description(key));
  const voters = async (id: string) => (await server.services.db.selectFrom('decision_votes').select('reviewer').where('approval_id', '=', id).where('outcome', '=', 'approve').execute()).map((v) => v.reviewer);

  it('a reviewer edits the payload block and moves the issue to Approved: the edit is decided, with its patch and both hashes, and the description rewritten in canonical form', async () => {
    const { id, key } = await request('editable');
    const edited = { to: 'billing@acme.example', amount: 60 };
    await deliver(edit(key, { amount: 60, to: 'billing@acme.example' }, ALICE));
    await seenEdit(id, ALICE);
    await deliver(jira.transition(key, 'Approved', ALICE));
    const view = await until(() => get(id), (v) => v.status !== 'pending').catch((error: Error) => {
      throw new Error(`${error.message}\ncomments: ${JSON.stringify(ownComments(key))}`);
    });
    expect(view).toMatchObject({ status: 'approved', payload: edited, payloadHash: payloadHash(edited), originalPayloadHash: payloadHash(refund) });
    expect(view.decision).toMatchObject({ by: [ALICE], originalPayloadHash: payloadHash(refund) });
    expect(view.decision!.patch).toEqual([
      { op: 'replace', path: '/amount', value: 60 },
      { op: 'replace', path: '/to', value: 'billing@acme.example' },
    ]);
    // Countersign's own rendering of the approved payload replaces the reviewer's spelling of it.
    await until(() => shownBlock(key), (block) => block === payloadJson(edited));
    expect(plainText(description(key))).toContain(payloadHash(edited));
    await refusedWith(key, 'Approved by');
    // The webhooks carried the description: nothing was read back from Jira to judge them.
    expect(jira.calls.filter((call) => call.operation === 'getIssue' && call.issue === key)).toEqual([]);
  });

  it('an edit by someone who is not a reviewer is put back at once with a comment, and the approval that follows approves the agent’s payload', async () => {
    const { id, key } = await request('editable');
    await deliver(edit(key, { ...refund, to: 'mallory@evil.example' }, MALLORY));
    await refusedWith(key, 'only reviewers of the project may change the payload');
    await until(() => shownBlock(key), (block) => block === payloadJson(refund));
    await deliver(jira.transition(key, 'Approved', ALICE));
    expect(await until(() => get(id), (v) => v.status !== 'pending')).toMatchObject({ status: 'approved', payload: refund, payloadHash: payloadHash(refund) });
  });

  /** An approval by `approver` after `prepare`, refused with `text`: the approval stays pending on the agent's payload, the issue is moved back. */
  async function refusedAfter(prepare: (target: { id: string; key: string }) => Promise<void>, text: string, approver = ALICE) {
    const target = await request('editable');
    await prepare(target);
    await deliver(jira.transition(target.key, 'Approved', approver));
    await refusedWith(target.key, text);
    expect(await get(target.id)).toMatchObject({ status: 'pending', payloadHash: payloadHash(refund) });
    await until(() => jira.issues.get(target.key)!.status.name, (status) => status === 'To Do');
    return target;
  }

  it('an edit that breaks the payload schema, or is not JSON, is refused with the errors as a Jira comment', async () => {
    await refusedAfter(async ({ id, key }) => {
      await deliver(edit(key, { ...refund, amount: 500 }, ALICE));
      await seenEdit(id, ALICE);
    }, '/amount: must be <= 100');
    await refusedAfter(async ({ id, key }) => {
      await deliver(edit(key, '{"amount": 5,', ALICE));
      await seenEdit(id, ALICE);
    }, 'the payload block is not valid JSON');
  });

  it('an edit by Alice approved by Bob is not taken as Bob’s: it is refused, naming who changed it', async () => {
    await refusedAfter(
      async ({ id, key }) => {
        await deliver(edit(key, { ...refund, amount: 10 }, ALICE));
        await seenEdit(id, ALICE);
      },
      `the payload block was last changed by ${ALICE}`,
      BOB,
    );
  });

  it('a replayed webhook changes nothing: not an edit, not an approval', async () => {
    const { id, key } = await request('editable');
    const edited = { ...refund, amount: 70 };
    const editHook = edit(key, edited, ALICE);
    await deliver(editHook);
    const recorded = await seenEdit(id, ALICE);
    // The same delivery again, and the same signed body under a new delivery id (a replay).
    expect(await deliver(editHook)).toEqual({ duplicate: true });
    await deliver({ ...editHook, id: crypto.randomUUID() });
    const approveHook = jira.transition(key, 'Approved', ALICE);
    await deliver(approveHook);
    const decided = await until(() => get(id), (v) => v.status !== 'pending');
    expect(decided).toMatchObject({ status: 'approved', payloadHash: payloadHash(edited) });
    await until(() => shownBlock(key), (block) => block === payloadJson(edited));
    const before = { comments: jira.issues.get(key)!.comments.length, histories: jira.issues.get(key)!.histories.length };

    await deliver({ ...approveHook, id: crypto.randomUUID() });
    await deliver({ ...editHook, id: crypto.randomUUID() });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await get(id)).toEqual(decided);
    expect(await server.services.db.selectFrom('ticket_edits').select(['editor', 'body_hash']).where('approval_id', '=', id).executeTakeFirst()).toEqual(recorded);
    expect({ comments: jira.issues.get(key)!.comments.length, histories: jira.issues.get(key)!.histories.length }).toEqual(before);
  });

  it('in an M-of-N, an edit takes back the approval given before it: both approve the edited bytes by /approve comments', async () => {
    const { id, key } = await request('quorum');
    await deliver(jira.comment(key, '/approve', ALICE));
    await until(() => voters(id), (who) => who.join() === ALICE);
    const edited = { ...refund, amount: 40 };
    await deliver(edit(key, edited, BOB));
    await seenEdit(id, BOB);
    await deliver(jira.comment(key, '/approve with the lower amount', BOB));
    // Bob's edit: his approval is the only one that counts now, for the new bytes.
    const counted = await until(() => get(id), (v) => v.payloadHash === payloadHash(edited));
    expect(counted.status).toBe('pending');
    expect(await voters(id)).toEqual([BOB]);
    await deliver(jira.comment(key, '/approve', ALICE));
    expect(await until(() => get(id), (v) => v.status !== 'pending')).toMatchObject({ status: 'approved', payload: edited, decision: { by: [BOB, ALICE] } });
  });

  it('with webhooks that carry no ADF (wiki text, as REST v2 and Data Center send), the description is read from REST, and a late approval is refused', async () => {
    jira.webhookDescriptions('wiki');
    try {
      const { id, key } = await request('editable');
      const edited = { ...refund, amount: 55 };
      await deliver(edit(key, edited, ALICE));
      await seenEdit(id, ALICE);
      await deliver(jira.transition(key, 'Approved', ALICE));
      expect(await until(() => get(id), (v) => v.status !== 'pending')).toMatchObject({ status: 'approved', payloadHash: payloadHash(edited) });
      expect(jira.calls.filter((call) => call.operation === 'getIssue' && call.issue === key)).toHaveLength(2);

      // Alice moves the issue on the agent's payload; before her webhook arrives, Bob edits the
      // block. The description read now is not the one she approved: refused, moved back.
      const late = await request('editable');
      const approval = jira.transition(late.key, 'Approved', ALICE);
      await deliver(edit(late.key, { ...refund, amount: 1 }, BOB));
      await seenEdit(late.id, BOB);
      await deliver(approval);
      await refusedWith(late.key, 'the description changed after this approval was given');
      expect(await get(late.id)).toMatchObject({ status: 'pending', payloadHash: payloadHash(refund) });
      await until(() => jira.issues.get(late.key)!.status.name, (status) => status === 'To Do');
    } finally {
      jira.webhookDescriptions('adf');
    }
  });

  it('an edit whose webhook was lost is found by reconciliation, so its author’s approval counts it', async () => {
    const { id, key } = await request('editable');
    const edited = { ...refund, amount: 45 };
    void edit(key, edited, ALICE);
    await runReconcileTickets(server.services);
    await seenEdit(id, ALICE);
    await deliver(jira.transition(key, 'Approved', ALICE));
    expect(await until(() => get(id), (v) => v.status !== 'pending')).toMatchObject({ status: 'approved', payloadHash: payloadHash(edited) });
  });

  it('on a project without allowEdits, a changed payload block is put back with a comment, and the approval approves the agent’s payload', async () => {
    const { id, key } = await request('fixed');
    await deliver(edit(key, { ...refund, amount: 1 }, ALICE));
    await refusedWith(key, 'does not allow approving with changes');
    await until(() => shownBlock(key), (block) => block === payloadJson(refund));
    await deliver(jira.transition(key, 'Approved', ALICE));
    expect(await until(() => get(id), (v) => v.status !== 'pending')).toMatchObject({ status: 'approved', payloadHash: payloadHash(refund) });
  });
});
