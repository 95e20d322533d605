import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { runReconcileTickets } from '../../src/tickets/reconcile-tickets.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeSlack, type FakeSlack, type FakeSlackMessage, type SignedRequest } from '../helpers/fake-slack.ts';
import { settledState } from '../helpers/replay.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

const CHANNEL = 'C0APPROVE';
const ALICE = 'U0ALICE01';
const BOB = 'U0BOB0001';
const CAROL = 'U0CAROL01';
const MALLORY = 'U0MALLORY';
const DANA = 'U0DANA001';

describeEachDatabase('Slack provider', (database) => {
  let server: TestServer;
  let slack: FakeSlack;
  let agentKey: string;

  beforeAll(async () => {
    slack = await startFakeSlack({ channels: [CHANNEL] });
    server = await startTestServer(database, { env: slack.serverEnv });
    const mapping = { provider: 'slack', slack: { channel: CHANNEL } };
    await server.projects([
      { key: 'ops', ...mapping, reviewers: [ALICE, BOB] },
      { key: 'ops-quorum', ...mapping, reviewers: [ALICE, BOB, CAROL], requiredApprovals: 2 },
      { key: 'ops-escalate', ...mapping, reviewers: [ALICE], escalation: [{ after: '1s', reviewers: [CAROL] }, { after: '8s', outcome: 'expire' }] },
      { key: 'ops-batch', ...mapping, reviewers: [ALICE, BOB], batching: { when: { risk: ['low'] }, window: '1s', maxItems: 3 } },
      { key: 'ops-people', ...mapping, reviewers: ['dana', ALICE] },
      { key: 'ops-edits', ...mapping, reviewers: [ALICE, BOB], allowEdits: true, grants: { maxHours: 8 } },
    ], [{ id: 'dana', slack: DANA, github: 'dana-gh' }]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await slack?.stop();
  });

  const read = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;
  const request = async (body: Record<string, unknown> = {}) => {
    const response = await server.fetch('/v1/approvals', {
      key: agentKey,
      json: { project: 'ops', action: 'send_email', summary: 'Send the drafted reply to ACME', details: 'Line one\n\nSecond paragraph', payload: { to: 'ops@acme.example' }, risk: 'high', requestedBy: 'agent-7', ...body },
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    await until(() => read(id), (a) => a.ticket !== null);
    return { id, message: slack.messageFor(id)! };
  };
  const post = (endpoint: 'interactions' | 'events', signed: SignedRequest, extra: Record<string, string> = {}) =>
    server.fetch(`/webhooks/slack/${endpoint}`, {
      method: 'POST',
      body: signed.body,
      headers: { 'content-type': endpoint === 'interactions' ? 'application/x-www-form-urlencoded' : 'application/json', ...signed.headers, ...extra },
    });
  /** Every Slack job has run: deliveries, and the ticket jobs they queued. */
  const settled = async () => {
    await until(
      async () => Number((await sql<{ n: string }>`select count(*) as n from pgboss.job where name in ('slack-delivery', 'ticket-create', 'ticket-update') and state not in ('completed', 'failed', 'cancelled')`.execute(server.services.db)).rows[0]!.n),
      (n) => n === 0,
    );
  };
  const deliver = async (endpoint: 'interactions' | 'events', signed: SignedRequest, extra: Record<string, string> = {}) => {
    const response = await post(endpoint, signed, extra);
    expect(response.status).toBe(200);
    await settled();
    return response;
  };
  const current = (message: FakeSlackMessage) => slack.messages.find((m) => m.channel === message.channel && m.ts === message.ts)!;
  const shown = (message: FakeSlackMessage) => slack.texts(current(message)).join('\n');
  const buttons = (message: FakeSlackMessage) => current(message).blocks.filter((block) => block.type === 'actions').length;
  const votes = async (approvalId: string) => (await server.services.db.selectFrom('decision_votes').selectAll().where('approval_id', '=', approvalId).execute()).length;
  const auditEvents = async (approvalId: string) => {
    await server.services.audit.flush();
    return (await server.services.db.selectFrom('audit_records').select('event').where('approval_id', '=', approvalId).orderBy('seq').execute()).map((r) => r.event);
  };

  it('answers url_verification with its challenge, and refuses a bad or old signature before reading anything', async () => {
    const verification = slack.urlVerification();
    const answer = await post('events', verification);
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ challenge: verification.challenge });

    const before = await server.services.db.selectFrom('webhook_deliveries' as never).select(sql<string>`count(*)`.as('n')).executeTakeFirst();
    const { id, message } = await request();
    const click = slack.click(message, ALICE, 'countersign_approve');
    const forged = slack.sign(click.body, { secret: 'not-the-signing-secret' });
    expect((await post('interactions', forged)).status).toBe(401);
    const old = slack.sign(click.body, { timestamp: Date.now() / 1000 - 6 * 60 });
    expect((await post('interactions', old)).status).toBe(401);
    const future = slack.sign(click.body, { timestamp: Date.now() / 1000 + 6 * 60 });
    expect((await post('interactions', future)).status).toBe(401);
    // The body changed after signing: a button value edited in transit.
    expect((await post('interactions', { body: click.body.replace('countersign_approve', 'countersign_reject'), headers: click.headers })).status).toBe(401);
    expect((await post('interactions', { body: click.body, headers: {} })).status).toBe(401);
    // Signed, but not what Slack sends there: 400, nothing stored.
    const notForm = await post('interactions', slack.sign('{"type":"block_actions"}'));
    expect(notForm.status).toBe(400);
    expect(await notForm.json()).toMatchObject({ error: { code: 'invalid_body' } });
    expect((await post('events', slack.sign('payload=%7B%7D'))).status).toBe(400);
    await settled();
    const after = await server.services.db.selectFrom('webhook_deliveries' as never).select(sql<string>`count(*)`.as('n')).executeTakeFirst();
    expect(after).toEqual(before);
    expect((await read(id)).status).toBe('pending');
    expect(await votes(id)).toBe(0);
  });

  it('posts the request as a Block Kit message and an Approve click decides it: two Slack calls for the whole lifecycle', async () => {
    const callsBefore = slack.calls.length;
    const { id, message } = await request();
    expect(message.channel).toBe(CHANNEL);
    const posted = slack.calls.find((call) => call.method === 'chat.postMessage' && (call.args.metadata as { event_payload?: { approval_id?: string } }).event_payload?.approval_id === id)!;
    expect(posted.args).toMatchObject({ channel: CHANNEL, text: expect.stringContaining(id), unfurl_links: 'false' });
    expect(shown(message)).toContain('Send the drafted reply to ACME');
    expect(shown(message)).toContain(`<@${ALICE}>, <@${BOB}>`);
    expect(buttons(message)).toBe(1);
    expect((await read(id)).ticket).toMatchObject({ provider: 'slack', key: `${CHANNEL}:${message.ts}`, url: `https://slack.com/archives/${CHANNEL}/p${message.ts.replace('.', '')}` });

    await deliver('interactions', slack.click(message, ALICE, 'countersign_approve'));
    const approval = await read(id);
    expect(approval.status).toBe('approved');
    expect(approval.decision?.by).toEqual([ALICE]);
    expect(shown(message)).toContain(`*Approved* by <@${ALICE}>`);
    expect(buttons(message)).toBe(0);
    const lifecycle = slack.calls.slice(callsBefore).map((call) => call.method);
    expect(lifecycle).toEqual(['chat.postMessage', 'chat.update']);
    expect(slack.invalid).toEqual([]);
  });

  it('Reject opens a modal asking a reason; its submission rejects with that reason, shown as text', async () => {
    const { id, message } = await request();
    await deliver('interactions', slack.click(message, BOB, 'countersign_reject'));
    expect((await read(id)).status).toBe('pending');
    const opened = slack.views.at(-1)!;
    expect(opened.view).toMatchObject({ type: 'modal', callback_id: 'countersign_reject_reason' });
    expect(JSON.parse(String(opened.view.private_metadata))).toEqual({ approvalId: id, channel: CHANNEL, ts: message.ts });

    await deliver('interactions', slack.submitReject(BOB, 'Wrong customer <!channel> *now*'));
    const approval = await read(id);
    expect(approval.status).toBe('rejected');
    expect(approval.decision).toMatchObject({ by: [BOB], reason: 'Wrong customer <!channel> *now*' });
    const reason = current(message).blocks.flatMap((b) => (b.elements as Array<{ type: string; text: string }> | undefined) ?? []).find((e) => e.text?.includes('Wrong customer'))!;
    expect(reason).toEqual({ type: 'plain_text', text: 'Wrong customer &lt;!channel&gt; *now*', emoji: false });
    expect(slack.invalid).toEqual([]);
  });

  it('Approve with changes… opens a modal with the payload and a grant choice; its submission approves the edit and grants', async () => {
    const { id, message } = await request({ project: 'ops-edits', risk: 'low', payload: { to: 'ops@acme.example', amount: 250 } });
    const buttons = message.blocks.flatMap((b) => (b.type === 'actions' ? (b.elements as Array<{ action_id: string }>) : [])).map((e) => e.action_id);
    expect(buttons).toEqual(['countersign_approve', 'countersign_reject', 'countersign_approve_options']);
    await deliver('interactions', slack.click(message, ALICE, 'countersign_approve_options'));
    const opened = slack.views.at(-1)!;
    expect(opened.view).toMatchObject({ type: 'modal', callback_id: 'countersign_approve_options' });
    const inputs = (opened.view.blocks as Array<{ block_id?: string; element?: { initial_value?: string; options?: Array<{ value: string }> } }>).filter((b) => b.element);
    expect(JSON.parse(inputs[0]!.element!.initial_value!)).toEqual({ to: 'ops@acme.example', amount: 250 });
    expect(inputs[1]!.element!.options!.map((o) => o.value)).toEqual(['1', '4', '8']);
    expect(slack.invalid).toEqual([]);

    // Not JSON: said to that person alone, nothing decided.
    await deliver('interactions', slack.submitView(ALICE, { payload: { payload_input: { type: 'plain_text_input', value: '{"amount": ' } } }));
    expect((await read(id)).status).toBe('pending');
    expect(slack.calls.filter((c) => c.method === 'chat.postEphemeral').at(-1)?.args).toMatchObject({ user: ALICE });

    // The modal closed on submit: Alice opens it again.
    await deliver('interactions', slack.click(message, ALICE, 'countersign_approve_options'));
    await deliver('interactions', slack.submitView(ALICE, { payload: { payload_input: { type: 'plain_text_input', value: '{"to": "ops@acme.example", "amount": 90}' } }, grant: { grant_input: { type: 'static_select', selected_option: { value: '4' } } } }));
    const approval = await read(id);
    expect(approval).toMatchObject({ status: 'approved', payload: { to: 'ops@acme.example', amount: 90 }, decision: { by: [ALICE], patch: [{ op: 'replace', path: '/amount', value: 90 }] } });
    expect(approval.decision!.grant!.id).toMatch(/^grt_/);
    // The grant approves the next such request at intake.
    const next = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'ops-edits', action: 'send_email', summary: 'Again', payload: { amount: 3 }, risk: 'low', requestedBy: 'agent-7' } });
    expect(((await next.json()) as { status: string }).status).toBe('approved');
  });

  it('a thread reply decides; an Events API retry and a replayed click change nothing twice', async () => {
    const { id, message } = await request({ project: 'ops-quorum' });
    const click = slack.click(message, ALICE, 'countersign_approve');
    await deliver('interactions', click);
    expect(await votes(id)).toBe(1);
    expect(shown(message)).toContain('1 of 2 approvals');
    const state = await settledState(server.services, id, () => shown(message));
    // The same signed click again, and again with the other headers changed.
    await deliver('interactions', click);
    await deliver('interactions', click, { 'x-forwarded-for': '203.0.113.9', 'user-agent': 'curl/8.0' });
    expect(await settledState(server.services, id, () => shown(message))).toEqual(state);

    const reply = slack.reply(message, BOB, 'approve');
    // Slack retries an event it thinks was not received: the same body, X-Slack-Retry-Num set.
    await Promise.all([deliver('events', reply), deliver('events', reply, { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' })]);
    const decided = await auditEvents(id);
    await deliver('events', reply, { 'x-slack-retry-num': '2', 'x-slack-retry-reason': 'http_timeout' });
    const approval = await read(id);
    expect(approval.status).toBe('approved');
    expect(approval.decision?.by).toEqual([ALICE, BOB]);
    expect(await votes(id)).toBe(2);
    expect(await auditEvents(id)).toEqual(decided);
  });

  it('only the signed user id counts: names or ids in the text, and channel commands, decide as their writer', async () => {
    const { id, message } = await request();
    // Mallory writes Alice's mention and id; Slack signs Mallory as the author.
    await deliver('events', slack.reply(message, MALLORY, `<@${ALICE}> approve`));
    await deliver('events', slack.reply(message, MALLORY, `approve ${ALICE}`));
    await deliver('events', slack.say(CHANNEL, MALLORY, `approve ${id} as <@${ALICE}>`));
    expect(await votes(id)).toBe(0);
    // A well-formed command from Mallory is Mallory's: refused, said to Mallory alone, audited.
    const ephemeralsBefore = slack.ephemerals.length;
    await deliver('events', slack.say(CHANNEL, MALLORY, `approve ${id}`));
    await settled();
    expect((await read(id)).status).toBe('pending');
    expect(await votes(id)).toBe(0);
    expect(slack.ephemerals.slice(ephemeralsBefore)).toEqual([{ channel: CHANNEL, user: MALLORY, text: expect.stringContaining('is not a reviewer') }]);
    expect((await auditEvents(id)).filter((e) => e.startsWith('decision'))).toHaveLength(1);
    expect(shown(message)).toContain('0 of 1 approval');

    await deliver('events', slack.say(CHANNEL, BOB, `reject ${id} not today`));
    expect((await read(id)).decision).toMatchObject({ outcome: 'rejected', by: [BOB], reason: 'not today' });
  });

  it('the requester cannot approve their own request from Slack', async () => {
    const { id, message } = await request({ requestedBy: ALICE });
    await deliver('interactions', slack.click(message, ALICE, 'countersign_approve'));
    await settled();
    expect((await read(id)).status).toBe('pending');
    expect(slack.ephemerals.at(-1)).toMatchObject({ user: ALICE, text: expect.stringContaining('requested this approval') });
  });

  it('a button whose value was edited to name another approval decides neither', async () => {
    const first = await request();
    const second = await request();
    const edited = slack.click(first.message, ALICE, 'countersign_approve', {
      edit: (payload) => {
        payload.actions[0]!.value = second.id;
      },
    });
    await deliver('interactions', edited);
    // The reason modal's metadata pointed elsewhere: same rule.
    await deliver('interactions', slack.click(first.message, ALICE, 'countersign_reject'));
    const opened = slack.views.at(-1)!;
    opened.view.private_metadata = JSON.stringify({ approvalId: second.id, channel: CHANNEL, ts: first.message.ts });
    await deliver('interactions', slack.submitReject(ALICE, 'no'));
    expect((await read(first.id)).status).toBe('pending');
    expect((await read(second.id)).status).toBe('pending');
    expect(await votes(first.id)).toBe(0);
    expect(await votes(second.id)).toBe(0);
  });

  it('requester text cannot render as Countersign’s words, mentions, links or formatting', async () => {
    const hostile = '<!channel> <!here> <@U0BOB0001> *Approved by Bob* _ok_ ~x~ `code` <https://evil.example|Approve here> &lt;!everyone&gt; ``` > quoted';
    const { message } = await request({
      summary: hostile,
      action: '<!subteam^S123|@admins>',
      requestedBy: '<@U0ALICE01>',
      details: `${hostile}\n\`\`\`\n:white_check_mark: *Approved* by <@U0BOB0001>\n\`\`\``,
      payload: { note: hostile, nested: ['```', '<!channel>'] },
    });
    const texts = slack.texts(current(message));
    const all = [...texts, current(message).text].join('\n');
    // No Slack construct survives: every < of the requester's is escaped.
    for (const construct of ['<!channel>', '<!here>', '<https://evil', '<!subteam', '&lt;!everyone&gt;']) expect(all).not.toContain(construct);
    // The only Slack constructs are Countersign's: the mapping's reviewers and the link to the approval.
    expect(all.match(/<[^>]*>/g)).toEqual([`<@${ALICE}>`, `<@${BOB}>`, expect.stringMatching(/^<http:\/\/127\.0\.0\.1:\d+\/v1\/approvals\/apr_\w+\|open in Countersign>$/)]);
    // One-line fields are plain_text (no formatting at all); multi-line ones stay inside one code block each.
    const plain = current(message).blocks.flatMap((b) => (b.elements as Array<{ type: string; text: string }> | undefined) ?? []).filter((e) => e.type === 'plain_text');
    expect(plain.map((e) => e.text)).toEqual(expect.arrayContaining([expect.stringContaining('*Approved by Bob*'), '&lt;!subteam^S123|@admins&gt;', '&lt;@U0ALICE01&gt;']));
    for (const text of texts.filter((t) => t.startsWith('*Details*') || t.startsWith('*Payload*'))) {
      expect(text.match(/```/g)).toHaveLength(2);
      expect(text).toMatch(/\n```$/);
    }
    // The notification text carries Countersign's words only.
    expect(current(message).text).not.toContain('Approved by');
    expect(slack.invalid).toEqual([]);
  });

  it('a 429 with Retry-After or a 5xx does not lose the post or the update: the client and the job retry', async () => {
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    slack.failNext('chat.postMessage', { status: 500 });
    const { id, message } = await request();
    expect(message).toBeDefined();
    expect(slack.messages.filter((m) => (m.metadata?.event_payload as { approval_id?: string } | undefined)?.approval_id === id)).toHaveLength(1);

    for (let i = 0; i < 5; i++) slack.failNext('chat.update', { status: 500 });
    const response = await post('interactions', slack.click(message, ALICE, 'countersign_approve'));
    expect(response.status).toBe(200);
    await until(() => shown(message), (text) => text.includes('*Approved*'), 30_000);
    expect((await read(id)).status).toBe('approved');
  }, 40_000);

  it('reconciliation counts a thread reply whose event never arrived', async () => {
    const { id, message } = await request();
    slack.replyUnseen(message, BOB, 'reject nobody asked for this');
    slack.replyUnseen(message, MALLORY, 'approve');
    await runReconcileTickets(server.services);
    await settled();
    expect((await read(id)).decision).toMatchObject({ outcome: 'rejected', by: [BOB], reason: 'nobody asked for this' });
    // Read again: applied once.
    await runReconcileTickets(server.services);
    expect(await votes(id)).toBe(1);
    expect(shown(message)).toContain(`*Rejected* by <@${BOB}>`);
  });

  it('escalation mentions the backup reviewer in the thread and lets them decide; expiry shows on the message', async () => {
    const { id, message } = await request({ project: 'ops-escalate' });
    // Carol may not decide before the tier is reached.
    await deliver('interactions', slack.click(message, CAROL, 'countersign_approve'));
    expect(await votes(id)).toBe(0);
    const thread = await until(() => slack.messages.filter((m) => m.thread_ts === message.ts && m.user === slack.botUser), (posts) => posts.length === 1, 20_000);
    expect(thread[0]!.text).toMatch(new RegExp(`^Escalated to tier 1 \\(no decision within the time the mapping allows\\): <@${CAROL}>, please review\\.$`));
    await settled();
    expect(shown(message)).toContain('escalated to tier 1');
    expect(shown(message)).toContain(`<@${ALICE}>, <@${CAROL}>`);

    const expiring = await request({ project: 'ops-escalate' });
    await deliver('events', slack.reply(message, CAROL, 'approve'));
    expect((await read(id)).decision).toMatchObject({ outcome: 'approved', by: [CAROL] });
    await until(() => read(expiring.id), (a) => a.status === 'expired', 20_000);
    await settled();
    await until(() => shown(expiring.message), (text) => text.includes('*Expired*'));
    expect(buttons(expiring.message)).toBe(0);
  }, 40_000);

  it('a cancelled request shows as cancelled, without buttons', async () => {
    const { id, message } = await request();
    const response = await server.fetch(`/v1/approvals/${id}/cancel`, { key: agentKey, method: 'POST' });
    expect(response.status).toBeLessThan(300);
    await settled();
    await until(() => shown(message), (text) => text.includes('*Cancelled*'));
    expect(buttons(message)).toBe(0);
  });

  it('a batch is one message; an item unticked before Approve all is rejected, the rest approved', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'ops-batch', action: 'tag_issue', summary: `Tag issue ${n} <!here>`, payload: { n }, risk: 'low' } });
      expect(response.status).toBe(202);
      ids.push(((await response.json()) as { id: string }).id);
    }
    const batchId = (await until(() => read(ids[0]!), (a) => a.batchId !== null && a.ticket !== null)).batchId!;
    const message = slack.messageFor(batchId)!;
    expect(slack.messages.filter((m) => ids.some((id) => slack.messageFor(id) === m))).toEqual([]);
    expect(shown(message)).toContain('*3 requests*');
    for (const id of ids) expect(shown(message)).toContain(id);
    expect(shown(message)).not.toContain('<!here>');

    await deliver('interactions', slack.click(message, ALICE, 'countersign_approve_all', { unticked: [ids[1]!] }));
    await settled();
    expect(await Promise.all(ids.map(async (id) => (await read(id)).status))).toEqual(['approved', 'rejected', 'approved']);
    await until(() => shown(message), (text) => text.includes('*Approved*'));
    expect(buttons(message)).toBe(0);
    expect(slack.invalid).toEqual([]);
  });

  it('reviewers named as people are mentioned and decide by their Slack ids', async () => {
    const { id, message } = await request({ project: 'ops-people', requestedBy: 'dana-gh' });
    expect(shown(message)).toContain(`*Reviewers* <@${DANA}>, <@${ALICE}>`);
    // The requester is Dana (by her GitHub login): she may not approve from Slack either.
    await deliver('interactions', slack.click(message, DANA, 'countersign_approve'));
    expect(slack.ephemerals.at(-1)).toMatchObject({ user: DANA, text: expect.stringContaining('requested this approval') });
    const other = await request({ project: 'ops-people' });
    await deliver('interactions', slack.click(other.message, DANA, 'countersign_approve'));
    expect((await read(other.id)).decision).toMatchObject({ outcome: 'approved', by: ['dana'] });
    expect(shown(other.message)).toContain(`*Approved* by <@${DANA}>`);
    expect((await read(id)).status).toBe('pending');
  });

  it('describes both request URLs in /openapi.json', async () => {
    const document = (await (await server.fetch('/openapi.json')).json()) as { paths: Record<string, { post?: { summary: string } }> };
    expect(document.paths['/webhooks/slack/interactions']?.post?.summary).toContain('X-Slack-Signature');
    expect(document.paths['/webhooks/slack/events']?.post?.summary).toContain('url_verification');
  });

  it('checks a project’s channel with conversations.info', async () => {
    const adapter = server.services.providers.get('slack');
    const project = { key: 'x', provider: 'slack' as const, slack: { channel: 'C0MISSING' }, reviewers: [ALICE], requiredApprovals: 1, labels: { approved: 'approved', rejected: 'rejected', pending: 'approval:pending' }, rules: [] };
    expect(await adapter.checkProject!(project)).toEqual([{ reason: 'not_found', message: expect.stringContaining('C0MISSING') }]);
    slack.channels.set('C0NOTJOIN', { is_member: false, is_archived: false });
    expect(await adapter.checkProject!({ ...project, slack: { channel: 'C0NOTJOIN' } })).toEqual([{ reason: 'forbidden', message: expect.stringContaining('/invite') }]);
    expect(await adapter.checkProject!({ ...project, slack: { channel: CHANNEL } })).toEqual([]);
    // A token with only the scopes docs/slack.md lists (no channels:read): the same answers from conversations.history.
    slack.failNext('conversations.info', { error: 'missing_scope' });
    expect(await adapter.checkProject!({ ...project, slack: { channel: CHANNEL } })).toEqual([]);
    slack.failNext('conversations.info', { error: 'missing_scope' });
    expect(await adapter.checkProject!(project)).toEqual([{ reason: 'not_found', message: expect.stringContaining('C0MISSING') }]);
  });
});
