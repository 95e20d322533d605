import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { checkProjects } from '../../src/providers/check-projects.ts';
import { runReconcileTickets } from '../../src/tickets/reconcile-tickets.ts';
import { listProjects } from '../../src/projects/project-store.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type Delivery, type FakeGitHub } from '../helpers/fake-github.ts';
import { startFakeSlack, type FakeSlack, type FakeSlackMessage, type SignedRequest } from '../helpers/fake-slack.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'notify-webhook-secret';
const CHANNEL = 'C0NOTIFY1';
const ALICE = 'U0ALICE01';
const BOB = 'U0BOB0001';
const CAROL = 'U0CAROL01';
const MALLORY = 'U0MALLORY';

const PEOPLE = [
  { id: 'alice', github: 'alice-gh', slack: ALICE },
  { id: 'bob', github: 'bob-gh', slack: BOB },
  { id: 'carol', slack: CAROL },
];

describeEachDatabase('Slack as a notification channel (notify.slack)', (database) => {
  let github: FakeGitHub;
  let slack: FakeSlack;
  let server: TestServer;
  let agentKey: string;

  beforeAll(async () => {
    github = await startFakeGitHub({ secret: SECRET });
    slack = await startFakeSlack({ channels: [CHANNEL] });
    server = await startTestServer(database, { env: { ...github.serverEnv, ...slack.serverEnv } });
    await server.projects([{ key: 'gh', provider: 'github', github: { owner: github.owner, repo: github.repo }, reviewers: ['alice', 'bob', 'carol'], requiredApprovals: 2, notify: { slack: { channel: CHANNEL } } }], PEOPLE);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await slack?.stop();
    await github?.stop();
  });

  const read = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;
  const settled = () =>
    until(
      async () => Number((await sql<{ n: string }>`select count(*) as n from pgboss.job where name in ('slack-delivery', 'channel-notice', 'ticket-create', 'ticket-update') and state not in ('completed', 'failed', 'cancelled')`.execute(server.services.db)).rows[0]!.n),
      (n) => n === 0,
    );
  const request = async () => {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'gh', action: 'send_email', summary: 'Send the invoice <!channel>', payload: { to: 'ops@acme.example' }, risk: 'medium', requestedBy: 'agent-7' } });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const view = await until(() => read(id), (v) => v.ticket !== null);
    const message = await until(() => slack.messageFor(id), (m) => m !== undefined);
    return { id, issue: Number(view.ticket!.key.split('#')[1]), message: message! };
  };
  const click = async (signed: SignedRequest) => {
    const response = await server.fetch('/webhooks/slack/interactions', { method: 'POST', body: signed.body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...signed.headers } });
    expect(response.status).toBe(200);
    await settled();
  };
  const comment = async (delivery: Delivery) => {
    const headers = { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id, 'x-hub-signature-256': await github.sign(delivery.body) };
    expect((await fetch(`${server.url}/webhooks/github`, { method: 'POST', headers, body: delivery.body })).status).toBe(202);
  };
  const current = (message: FakeSlackMessage) => slack.messages.find((m) => m.channel === message.channel && m.ts === message.ts)!;
  const shown = (message: FakeSlackMessage) => slack.texts(current(message)).join('\n');
  const auditEvents = async (id: string) => {
    await server.services.audit.flush();
    return (await server.services.db.selectFrom('audit_records').select('event').where('approval_id', '=', id).orderBy('seq').execute()).map((r) => r.event);
  };
  const votes = async (id: string) => (await server.services.db.selectFrom('decision_votes').select(['reviewer', 'via']).where('approval_id', '=', id).orderBy('created_at').execute()).map((v) => `${v.reviewer} via ${v.via}`);

  it('posts a GitHub-ticketed request to Slack, mentioning the reviewers by their Slack ids', async () => {
    const { message } = await request();
    expect(message.channel).toBe(CHANNEL);
    expect(shown(message)).toContain(`<@${ALICE}>, <@${BOB}>, <@${CAROL}>`);
    expect(shown(message)).not.toContain('<!channel>');
    expect(slack.invalid).toEqual([]);
  });

  it('one person counts once whether they answer in Slack or on GitHub; the message follows the ticket', async () => {
    const { id, issue, message } = await request();
    await click(slack.click(message, ALICE, 'countersign_approve'));
    expect(await votes(id)).toEqual(['alice via slack']);
    await until(() => shown(message), (text) => text.includes('1 of 2 approvals'));

    // Alice again, on GitHub: the same person, refused, nothing changes.
    await comment(github.comment(issue, '/approve', 'alice-gh'));
    // Its refusal is audited once applied (the webhook's work runs after the answer).
    await until(() => auditEvents(id), (events) => events.filter((e) => e.startsWith('decision.')).length === 2);
    await settled();
    expect(await votes(id)).toEqual(['alice via slack']);
    expect((await read(id)).status).toBe('pending');

    // Bob decides on GitHub; the Slack message shows the outcome, without buttons.
    const stale = structuredClone(current(message));
    await comment(github.comment(issue, '/approve', 'bob-gh'));
    await until(() => read(id), (a) => a.status === 'approved');
    expect((await read(id)).decision?.by).toEqual(['alice', 'bob']);
    await settled();
    await until(() => shown(message), (text) => text.includes(`*Approved* by <@${ALICE}>, <@${BOB}>`));
    expect(current(message).blocks.filter((b) => b.type === 'actions')).toEqual([]);

    // A late click (on a client still showing the buttons) changes nothing and is answered to that person alone.
    const before = slack.ephemerals.length;
    await click(slack.click(stale, CAROL, 'countersign_approve'));
    expect(await votes(id)).toEqual(['alice via slack', 'bob via github']);
    expect(slack.ephemerals.slice(before)).toEqual([{ channel: CHANNEL, user: CAROL, text: expect.stringContaining('already decided') }]);
  });

  it('a GitHub vote, then the same person in Slack: refused there, said to them alone; a replayed click is applied once', async () => {
    const { id, issue, message } = await request();
    await comment(github.comment(issue, '/approve', 'bob-gh'));
    await until(() => votes(id), (v) => v.length === 1);
    const before = slack.ephemerals.length;
    await click(slack.click(message, BOB, 'countersign_approve'));
    expect(await votes(id)).toEqual(['bob via github']);
    expect(slack.ephemerals.slice(before)).toEqual([{ channel: CHANNEL, user: BOB, text: expect.stringContaining('already voted') }]);

    // Not a reviewer: refused, ephemeral, no vote.
    await click(slack.click(message, MALLORY, 'countersign_approve'));
    expect(slack.ephemerals.at(-1)).toMatchObject({ user: MALLORY, text: expect.stringContaining('is not a reviewer') });

    const carol = slack.click(message, CAROL, 'countersign_approve');
    await click(carol);
    await click(carol);
    expect(await votes(id)).toEqual(['bob via github', 'carol via slack']);
    expect((await read(id)).status).toBe('approved');
  });

  it('projects apply and start-up check a notify.slack channel too', async () => {
    const project = (await listProjects(server.services.db)).find((p) => p.key === 'gh')!;
    const checks = [server.services.slack!.notifier.checkProject];
    expect(await checkProjects(server.services.providers, [project], checks)).toEqual([{ project: 'gh', provider: 'github', problems: [] }]);
    const elsewhere = { ...project, notify: { slack: { channel: 'C0GONE001' } } };
    expect((await checkProjects(server.services.providers, [elsewhere], checks))[0]!.problems).toEqual([{ reason: 'not_found', message: expect.stringContaining('C0GONE001') }]);
  });

  it('a Slack thread reply on the notice decides as its signed author', async () => {
    const { id, message } = await request();
    const reply = slack.reply(message, CAROL, 'reject wrong invoice');
    const response = await server.fetch('/webhooks/slack/events', { method: 'POST', body: reply.body, headers: { 'content-type': 'application/json', ...reply.headers } });
    expect(response.status).toBe(200);
    await settled();
    expect((await read(id)).decision).toMatchObject({ outcome: 'rejected', by: ['carol'], reason: 'wrong invoice' });
    await until(() => shown(message), (text) => text.includes(`*Rejected* by <@${CAROL}>`));
  });

  it('reconciliation reads back every page of shown notices, not only the oldest', async () => {
    const first = await request();
    const second = await request();
    for (const { id, message } of [first, second]) {
      slack.replyUnseen(message, CAROL, 'approve');
      await until(() => server.services.db.selectFrom('channel_messages').select('ref').where('approval_id', '=', id).executeTakeFirst(), (row) => row?.ref != null);
    }
    // One notice per page: the newer one is on a page after the first.
    await runReconcileTickets(server.services, { pageSize: 1 });
    for (const { id } of [first, second]) {
      expect(await server.services.db.selectFrom('decision_votes').select(['reviewer', 'via']).where('approval_id', '=', id).execute()).toEqual([{ reviewer: 'carol', via: 'slack' }]);
    }
  });

  it('reconciliation counts a reply on the notice whose event never arrived, once', async () => {
    const { id, message } = await request();
    slack.replyUnseen(message, CAROL, 'approve');
    expect((await read(id)).status).toBe('pending');
    await until(() => server.services.db.selectFrom('channel_messages').select('ref').where('approval_id', '=', id).executeTakeFirst(), (row) => row?.ref != null);
    await runReconcileTickets(server.services);
    // Two approvals are needed here: Carol's is counted, from Slack.
    const votes = () => server.services.db.selectFrom('decision_votes').select(['reviewer', 'via']).where('approval_id', '=', id).execute();
    expect(await votes()).toEqual([{ reviewer: 'carol', via: 'slack' }]);
    // Read back again: already applied, nothing new in the audit log.
    await server.services.audit.flush();
    const before = await server.services.db.selectFrom('audit_records').select('seq').where('approval_id', '=', id).execute();
    await runReconcileTickets(server.services);
    await server.services.audit.flush();
    expect(await server.services.db.selectFrom('audit_records').select('seq').where('approval_id', '=', id).execute()).toHaveLength(before.length);
    expect(await votes()).toHaveLength(1);
  });
});
