import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { runReconcileTickets } from '../../src/tickets/reconcile-tickets.ts';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { createLogger } from '../../src/config/logger.ts';
import type { ProviderAdapter } from '../../src/providers/provider-adapter.ts';
import { createJiraAdapter } from '../../src/providers/jira/jira-adapter.ts';
import { createJiraClient } from '../../src/providers/jira/jira-client.ts';
import { plainText } from '../../src/providers/jira/jira-issue-description.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeJira, type Delivery, type FakeJira } from '../helpers/fake-jira.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';

const SECRET = 'jira-webhook-secret';
const ALICE = 'acc-alice';
const BOB = 'acc-bob';
const CAROL = 'acc-carol';
const MALLORY = 'acc-mallory';

describeEachDatabase('Jira provider', (database) => {
  let server: TestServer;
  let jira: FakeJira;
  let receiver: CallbackReceiver;
  let agentKey: string;
  /** Set by a test: the next created issue "crashes" the job after Jira answered, before the row is written. */
  let crashAfterCreate = false;

  beforeAll(async () => {
    jira = await startFakeJira({ secret: SECRET });
    const env = jira.serverEnv;
    const logger = createLogger('silent');
    const client = createJiraClient({ host: jira.url, email: jira.email, apiToken: jira.apiToken, webhookSecret: SECRET }, { logger, retryAfterUnitMs: 20 });
    const real = createJiraAdapter(client, { webhookSecret: SECRET, logger });
    // The real adapter; a spy only injects the crash.
    const adapter: ProviderAdapter = {
      ...real,
      async createTicket(request) {
        const ticket = await real.createTicket(request);
        if (crashAfterCreate) {
          crashAfterCreate = false;
          throw new Error('crash between creating the issue and storing it');
        }
        return ticket;
      },
    };
    server = await startTestServer(database, { env, extraProviders: [adapter] });
    const mapping = { provider: 'jira', jira: { project: 'OPS', issueType: 'Task', approvedStatus: 'approved', rejectedStatus: 'Rejected' } };
    await server.projects([
      { key: 'ops', ...mapping, reviewers: [ALICE, BOB] },
      { key: 'ops-quorum', ...mapping, reviewers: [ALICE, BOB, CAROL], requiredApprovals: 2 },
      { key: 'ops-unassignable', ...mapping, reviewers: ['jdoe', ALICE] },
    ]);
    agentKey = (await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] })).key;
  });
  afterAll(async () => {
    await server?.close();
    await jira?.stop();
  });
  beforeEach(async () => {
    receiver = await startCallbackReceiver();
  });
  afterEach(() => receiver.close());

  const read = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;
  const request = async (project = 'ops', requestedBy = 'agent-7') => {
    const response = await server.fetch('/v1/approvals', {
      key: agentKey,
      json: { project, action: 'send_email', summary: 'Send the drafted reply to ACME', details: 'Line one\n\nSecond paragraph', payload: { to: 'ops@acme.example' }, risk: 'high', requestedBy, callbackUrl: receiver.url },
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const approval = await until(() => read(id), (a) => a.ticket !== null);
    return { id, key: approval.ticket!.key };
  };
  const post = (delivery: Delivery, headers = jira.headers(delivery)) => server.fetch('/webhooks/jira', { method: 'POST', body: delivery.body, headers });
  const votes = async (approvalId: string) => Number((await sql<{ n: string }>`select count(*) as n from decision_votes where approval_id = ${approvalId}`.execute(server.services.db)).rows[0]!.n);
  const ownComments = (key: string) => jira.issues.get(key)!.comments.filter((c) => c.author === jira.selfId).map((c) => plainText(c.body));
  const callsFor = (key: string) => jira.calls.filter((c) => c.issue === key && c.status < 300).map((c) => c.operation);

  it('opens an issue with an ADF description, the labels and the first reviewer assigned', async () => {
    const { id, key } = await request();
    const issue = jira.issues.get(key)!;
    expect(issue.labels).toEqual(expect.arrayContaining(['countersign', `countersign-${id}`, 'approval:pending', 'risk:high']));
    expect(issue.assignee).toBe(ALICE);
    const description = plainText(issue.description);
    expect(description).toContain('"to": "ops@acme.example"');
    expect(description).toContain(id);
    expect(description).toMatch(/Payload hash sha256:[0-9a-f]{64}/);
    expect(description).toContain('/reject <reason>');
    expect(JSON.stringify(issue.description)).toContain('"codeBlock"');
    expect(jira.invalid).toEqual([]);
  });

  it('keeps agent text out of Jira structure: a summary that stays text, no label claiming another approval or a decision', async () => {
    const response = await server.fetch('/v1/approvals', {
      key: agentKey,
      json: { project: 'ops', action: 'send_email', summary: 'Routine [Approve](https://evil.example)', details: '{code}x{code} [~accountid:acc-bob]', payload: { to: 'ops@acme.example' }, risk: 'high', labels: ['countersign-apr_0ther', 'approved', 'needs review'], callbackUrl: receiver.url },
    });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    const key = (await until(() => read(id), (a) => a.ticket !== null)).ticket!.key;
    const issue = jira.issues.get(key)!;
    expect(issue.summary).toBe('Routine [Approve](https://evil.example)');
    expect(issue.labels).toEqual(['countersign', `countersign-${id}`, 'approval:pending', 'risk:high', 'needs-review']);
    // Mentions only for the mapping's reviewers, links only to Countersign: the agent's text stays text.
    const description = JSON.stringify(issue.description);
    expect([...description.matchAll(/"type":"mention","attrs":\{"id":"([^"]+)"/g)].map((m) => m[1])).toEqual([ALICE, BOB]);
    expect([...description.matchAll(/"href":"([^"]+)"/g)].map((m) => m[1])).toEqual([expect.stringContaining(`/v1/approvals/${id}`)]);
    expect(plainText(issue.description)).toContain('{code}x{code} [~accountid:acc-bob]');
    expect(jira.invalid).toEqual([]);
  });

  it('approves when a reviewer moves the issue to Approved, calls the agent back, and uses 3 Jira calls', async () => {
    const { id, key } = await request();
    const webhookAt = Date.now();
    const answer = await post(jira.transition(key, 'Approved', ALICE));
    expect(answer.status).toBe(202);
    const [callback] = await receiver.waitFor(1);
    const event = JSON.parse(callback!.body) as { data: { id: string; status: string; decision: { by: string[] } } };
    expect(event.data).toMatchObject({ id, status: 'approved', decision: { by: [ALICE] } });
    expect((await read(id)).decision).toMatchObject({ outcome: 'approved', by: [ALICE] });

    await until(() => ownComments(key), (c) => c.length === 1);
    expect(ownComments(key)[0]).toMatch(/^Approved by .* 1 of 1 — the agent was notified\./);
    const issue = jira.issues.get(key)!;
    expect(issue.labels).toContain('approved');
    expect(issue.labels).not.toContain('approval:pending');
    expect(issue.status.name).toBe('Approved');
    const calls = callsFor(key);
    console.info(`[jira] API calls for one approval decided by a status move: ${calls.length} (${calls.join(', ')}); webhook → callback ${callback!.at - webhookAt} ms`);
    expect(calls).toEqual(['createIssue', 'editIssue', 'addComment']);
    expect(jira.invalid).toEqual([]);
  });

  it('rejects when a reviewer moves the issue to Rejected', async () => {
    const { id, key } = await request();
    expect((await post(jira.transition(key, 'Rejected', BOB))).status).toBe(202);
    const [callback] = await receiver.waitFor(1);
    expect(JSON.parse(callback!.body)).toMatchObject({ data: { id, status: 'rejected', decision: { by: [BOB] } } });
    await until(() => ownComments(key), (c) => c.length === 1);
    expect(ownComments(key)[0]).toMatch(/^Rejected by/);
    expect(jira.issues.get(key)!.labels).toContain('rejected');
  });

  it('answers 401 to a bad or missing signature and changes nothing', async () => {
    const { id, key } = await request();
    const delivery = jira.transition(key, 'Approved', ALICE);
    const wrong = await post(delivery, jira.headers(delivery, 'not-the-secret'));
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    const { 'x-hub-signature': _, ...unsigned } = jira.headers(delivery);
    expect((await post(delivery, unsigned)).status).toBe(401);
    const tampered = { ...delivery, body: delivery.body.replace(ALICE, BOB) };
    expect((await post(tampered, jira.headers(delivery))).status).toBe(401);

    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await read(id)).status).toBe('pending');
    expect(await votes(id)).toBe(0);
    const stored = await sql<{ n: string }>`select count(*) as n from webhook_deliveries where delivery_id = ${delivery.id}`.execute(server.services.db);
    expect(Number(stored.rows[0]!.n)).toBe(0);
  });

  it('applies a delivery retried with the same webhook identifier once', async () => {
    const { id, key } = await request('ops-quorum');
    const delivery = jira.transition(key, 'Approved', ALICE);
    expect((await post(delivery)).status).toBe(202);
    const again = await post(delivery);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual({ duplicate: true });
    // Counted, 1 of 2: the issue goes back so the next reviewer can move it again.
    await until(() => ownComments(key), (c) => c.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await votes(id)).toBe(1);
    expect(ownComments(key)).toHaveLength(1);
    expect(ownComments(key)[0]).toContain('counted (1 of 2)');
    expect(jira.issues.get(key)!.status.name).toBe('To Do');
    expect((await read(id)).status).toBe('pending');
  });

  it("moves a non-reviewer's transition back with a comment, and ignores its own move", async () => {
    const { id, key } = await request();
    expect((await post(jira.transition(key, 'Approved', MALLORY))).status).toBe(202);
    await until(() => ownComments(key), (c) => c.length === 1);
    expect(ownComments(key)[0]).toContain(`is not a reviewer of project ops`);
    expect(ownComments(key)[0]).toContain('moved back to To Do');
    const issue = jira.issues.get(key)!;
    expect(issue.status.name).toBe('To Do');
    expect(issue.histories.at(-1)).toMatchObject({ author: jira.selfId, items: [{ from: jira.statuses.approved.id, to: jira.statuses.todo.id }] });
    expect((await read(id)).status).toBe('pending');

    // Jira reports Countersign's own move back: not a reviewer's action, nothing happens.
    expect((await post(jira.lastChangeWebhook(key))).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(ownComments(key)).toHaveLength(1);
    // The refused attempt is audited.
    await server.services.audit.flush();
    const audited = await sql<{ n: string }>`select count(*) as n from audit_records where approval_id = ${id} and event = 'decision.refused'`.execute(server.services.db);
    expect(Number(audited.rows[0]!.n)).toBe(1);
  });

  it('ignores events on issues Countersign did not open', async () => {
    const foreign: Delivery = {
      id: 'foreign-1',
      body: JSON.stringify({
        timestamp: Date.now(),
        webhookEvent: 'jira:issue_updated',
        issue_event_type_name: 'issue_generic',
        user: { accountId: ALICE },
        issue: { id: '99', key: 'OPS-999', fields: { labels: ['other'] } },
        changelog: { id: '1', items: [{ field: 'status', fieldtype: 'jira', fieldId: 'status', from: '10000', fromString: 'To Do', to: '10100', toString: 'Approved' }] },
      }),
    };
    const answer = await post(foreign);
    expect(answer.status).toBe(202);
    expect(await answer.json()).toMatchObject({ ignored: expect.stringContaining('not opened by Countersign') });
  });

  it('reaches a quorum of 2 by /approve comments and moves the issue to Approved', async () => {
    const { id, key } = await request('ops-quorum');
    expect((await post(jira.comment(key, '/approve looks right', ALICE))).status).toBe(202);
    await until(() => votes(id), (n) => n === 1);
    expect((await read(id)).status).toBe('pending');
    expect((await post(jira.comment(key, '/approve', BOB))).status).toBe(202);
    const [callback] = await receiver.waitFor(1);
    expect(JSON.parse(callback!.body)).toMatchObject({ data: { id, status: 'approved', decision: { by: [ALICE, BOB] } } });
    await until(() => ownComments(key), (c) => c.length === 1);
    expect(ownComments(key)[0]).toMatch(/^Approved by .* 2 of 2/);
    expect(jira.issues.get(key)!.status.name).toBe('Approved');
    expect(callsFor(key)).toEqual(['createIssue', 'editIssue', 'getTransitions', 'doTransition', 'addComment']);
  });

  it('refuses a /reject comment by the requester', async () => {
    const { id, key } = await request('ops', BOB);
    expect((await post(jira.comment(key, '/reject not mine to decide', BOB))).status).toBe(202);
    await until(() => ownComments(key), (c) => c.length === 1);
    expect(ownComments(key)[0]).toContain('requested this approval and cannot decide it');
    expect((await read(id)).status).toBe('pending');
  });

  it('opens one issue when the job crashes between creating it and storing it', async () => {
    crashAfterCreate = true;
    const before = jira.calls.filter((c) => c.operation === 'createIssue').length;
    const { id, key } = await request();
    const labelled = [...jira.issues.values()].filter((issue) => issue.labels.includes(`countersign-${id}`));
    expect(labelled.map((issue) => issue.key)).toEqual([key]);
    expect(jira.calls.filter((c) => c.operation === 'createIssue').length - before).toBe(1);
    // The retried job looked for the issue its crashed run had opened (a reconciliation run may search meanwhile too).
    const searches = jira.calls.filter((c) => c.operation === 'searchForIssuesUsingJqlEnhancedSearchPost').map((c) => c.body);
    expect(searches).toContainEqual(expect.objectContaining({ jql: `labels = "countersign-${id}" ORDER BY created ASC` }));
  });

  it('waits out a 429 with Retry-After and a 503, then succeeds', async () => {
    jira.failNext('createIssue', { status: 429, headers: { 'retry-after': '1' } });
    const before = jira.calls.length;
    const { id, key } = await request();
    jira.failNext('addComment', { status: 503, headers: { 'retry-after': '1' }, issue: key });
    expect((await post(jira.transition(key, 'Approved', ALICE))).status).toBe(202);
    await receiver.waitFor(1);
    await until(() => ownComments(key), (c) => c.length === 1);
    const made = jira.calls.slice(before).map((c) => `${c.operation}:${c.status}`);
    const creates = jira.calls.slice(before).filter((c) => c.operation === 'createIssue');
    // Retry-After: 1 is waited out (one second is 20 ms in this client).
    expect(creates[1]!.at - creates[0]!.at).toBeGreaterThanOrEqual(20);
    expect(made.filter((c) => c.startsWith('createIssue'))).toEqual(['createIssue:429', 'createIssue:201']);
    // Only this issue's comments: a job of an earlier test may still comment on its own issue.
    const comments = jira.calls.slice(before).filter((c) => c.operation === 'addComment' && c.issue === key);
    expect(comments.map((c) => `${c.operation}:${c.status}`)).toEqual(['addComment:503', 'addComment:201']);
    expect([...jira.issues.values()].filter((issue) => issue.labels.includes(`countersign-${id}`))).toHaveLength(1);
  });

  it('catches a missed webhook by reconciliation', async () => {
    const { id, key } = await request();
    jira.transition(key, 'Approved', ALICE); // the webhook never arrives
    // A refused and an unrelated comment in the meantime are read too, and harmless.
    jira.comment(key, 'what is this about?', CAROL);
    const summary = await runReconcileTickets(server.services);
    expect(summary.attempted).toBeGreaterThanOrEqual(1);
    const [callback] = await receiver.waitFor(1);
    expect(JSON.parse(callback!.body)).toMatchObject({ data: { id, status: 'approved', decision: { by: [ALICE] } } });
    // Read again: already decided, nothing applied twice.
    const second = await runReconcileTickets(server.services);
    expect(second.attempted).toBe(0);
    expect(await votes(id)).toBe(1);
  });

  it('updates the issue when the agent cancels', async () => {
    const { id, key } = await request();
    expect((await server.fetch(`/v1/approvals/${id}/cancel`, { key: agentKey, method: 'POST' })).status).toBe(200);
    await until(() => ownComments(key), (c) => c.length === 1);
    expect(ownComments(key)[0]).toContain('Withdrawn');
    expect(jira.issues.get(key)!.labels).not.toContain('approval:pending');
  });

  it('opens the issue unassigned when Jira refuses the first reviewer as assignee', async () => {
    const { key } = await request('ops-unassignable');
    expect(jira.issues.get(key)!.assignee).toBeNull();
    expect(jira.calls.filter((c) => c.operation === 'createIssue').slice(-2).map((c) => c.status)).toEqual([400, 201]);
  });
});
