import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';

interface CallbackBody {
  data: { id: string; status: string; decision: { by: string[]; reason: string | null } };
}

describeEachDatabase('label rules: escalation, auto-approval and batching', (database) => {
  let server: TestServer;
  let receiver: CallbackReceiver;
  let agentKey: string;
  const reviewer: Record<string, string> = {};

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([
      {
        key: 'ops',
        provider: 'local',
        reviewers: ['alice'],
        escalation: [{ after: '2s', reviewers: ['carol'] }, { after: '4s', outcome: 'reject' }],
        rules: [
          { when: { risk: ['low'], action: ['tag_ticket'] }, set: { autoApprove: true } },
          { when: { action: ['tag_everything'] }, set: { autoApprove: true } },
          { when: { labels: ['slow'] }, set: { escalation: [{ after: '1s', outcome: 'expire' }] } },
        ],
      },
      { key: 'bulk', provider: 'local', reviewers: ['alice', 'bob'], batching: { when: { risk: ['low'] }, window: '2s', maxItems: 25 } },
    ]);
    agentKey = (await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] })).key;
    for (const login of ['alice', 'bob', 'carol']) reviewer[login] = await server.key({ scopes: ['review'], reviewer: login });
  });
  afterAll(() => server?.close());
  beforeEach(async () => {
    receiver = await startCallbackReceiver();
  });
  afterEach(() => receiver.close());

  const request = async (body: Record<string, unknown>) => {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { action: 'send_email', summary: 's', callbackUrl: receiver.url, ...body } });
    expect(response.status).toBe(202);
    return (await response.json()) as ApprovalView;
  };
  const read = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;
  const decide = (id: string, login: string, outcome: 'approve' | 'reject', reason?: string) =>
    server.fetch(`/v1/approvals/${id}/decision`, { key: reviewer[login]!, json: { outcome, ...(reason ? { reason } : {}) } });
  const auditEvents = async (approvalId: string) =>
    (await server.services.audit.flush(), await server.services.db.selectFrom('audit_records').select(['event', 'actor']).where('approval_id', '=', approvalId).orderBy('seq').execute()) as Array<{ event: string; actor: { kind: string; id: string } }>;

  it('escalates to the backup reviewer when the SLA passes, then rejects as policy and calls the agent back', async () => {
    const approval = await request({ project: 'ops' });
    // Before the first tier, the backup reviewer may not decide.
    expect((await decide(approval.id, 'carol', 'approve')).status).toBe(403);
    await expect.poll(async () => (await read(approval.id)).escalationTier, { timeout: 8_000 }).toBe(1);
    expect((await read(approval.id)).status).toBe('pending');

    const [callback] = await receiver.waitFor(1, 10_000);
    const event = JSON.parse(callback!.body) as CallbackBody;
    expect(event.data).toMatchObject({ id: approval.id, status: 'rejected', decision: { by: ['policy'] } });
    expect(event.data.decision.reason).toMatch(/no decision within 4s/);
    const events = await auditEvents(approval.id);
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['approval.escalated', 'approval.decided']));
    expect(events.find((e) => e.event === 'approval.decided')?.actor.kind).toBe('policy');
  });

  it('lets the backup reviewer decide once the tier is reached, and the final tier then does nothing', async () => {
    const approval = await request({ project: 'ops' });
    await expect.poll(async () => (await read(approval.id)).escalationTier, { timeout: 8_000 }).toBe(1);
    expect((await decide(approval.id, 'carol', 'approve')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const final = await read(approval.id);
    expect(final.status).toBe('approved');
    expect(final.decision?.by).toEqual(['carol']);
    expect(receiver.received).toHaveLength(1);
  });

  it('gives one outcome when a decision races the final timer', async () => {
    const approval = await request({ project: 'ops', labels: ['slow'] });
    await new Promise((resolve) => setTimeout(resolve, 950));
    const decision = await decide(approval.id, 'alice', 'approve');
    expect([200, 409]).toContain(decision.status);
    await receiver.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(receiver.received).toHaveLength(1);
    const final = await read(approval.id);
    expect(['approved', 'expired']).toContain(final.status);
    expect((JSON.parse(receiver.received[0]!.body) as CallbackBody).data.status).toBe(final.status);
    const decided = (await auditEvents(approval.id)).filter((e) => e.event === 'approval.decided');
    expect(decided).toHaveLength(1);
  });

  it('auto-approves as actor policy, audited with the rule, and still calls the agent back', async () => {
    const approval = await request({ project: 'ops', action: 'tag_ticket', risk: 'low' });
    expect(approval.status).toBe('approved');
    expect(approval.decision).toMatchObject({ by: ['policy'], reason: 'auto-approved by rules[0]' });
    const [callback] = await receiver.waitFor(1);
    expect((JSON.parse(callback!.body) as CallbackBody).data.status).toBe('approved');
    const decided = (await auditEvents(approval.id)).find((e) => e.event === 'approval.decided');
    expect(decided?.actor).toMatchObject({ kind: 'policy', id: 'rules[0]' });
  });

  it('never auto-approves high risk, even when a rule matches', async () => {
    const approval = await request({ project: 'ops', action: 'tag_everything', risk: 'high' });
    expect(approval.status).toBe('pending');
    expect(approval.decision).toBeNull();
  });

  it('closes a batch of 25 on maxItems into one ticket; approving it with one item excluded gives 24 approved and 1 rejected callbacks', async () => {
    const items = await Promise.all(Array.from({ length: 25 }, (_, i) => request({ project: 'bulk', risk: 'low', summary: `tag ${i}`, payload: { i } })));
    const batchIds = new Set(items.map((item) => item.batchId));
    expect(batchIds.size).toBe(1);
    const batchId = [...batchIds][0]!;
    expect(batchId).toMatch(/^bat_/);

    // Full: it becomes one ticket long before its 2 s window would pass.
    await expect.poll(async () => (await read(items[0]!.id)).ticket?.key, { timeout: 5_000 }).toBe(batchId);
    const batch = (await (await server.fetch(`/v1/batches/${batchId}`, { key: agentKey })).json()) as { status: string; items: unknown[] };
    expect(batch).toMatchObject({ status: 'ticketed' });
    expect(batch.items).toHaveLength(25);

    const excluded = items[7]!.id;
    const decision = await server.fetch(`/v1/batches/${batchId}/decision`, { key: reviewer.bob!, json: { outcome: 'approve', exclude: [{ id: excluded, reason: 'wrong customer' }] } });
    expect(decision.status).toBe(200);

    const callbacks = (await receiver.waitFor(25)).map((c) => (JSON.parse(c.body) as CallbackBody).data);
    expect(new Set(callbacks.map((c) => c.id)).size).toBe(25);
    expect(callbacks.filter((c) => c.status === 'approved')).toHaveLength(24);
    const rejected = callbacks.filter((c) => c.status === 'rejected');
    expect(rejected.map((c) => c.id)).toEqual([excluded]);
    expect(rejected[0]!.decision.reason).toBe('wrong customer');
    for (const item of items) expect((await auditEvents(item.id)).some((e) => e.event === 'approval.decided')).toBe(true);
  });

  it('closes a batch when its window passes; a request cancelled meanwhile leaves it', async () => {
    const first = await request({ project: 'bulk', risk: 'low', summary: 'one' });
    const second = await request({ project: 'bulk', risk: 'low', summary: 'two' });
    expect(second.batchId).toBe(first.batchId);
    expect((await server.fetch(`/v1/approvals/${second.id}/cancel`, { key: agentKey, method: 'POST' })).status).toBe(200);
    await expect.poll(async () => (await read(first.id)).ticket?.key, { timeout: 6_000 }).toBe(first.batchId);
    const batch = (await (await server.fetch(`/v1/batches/${first.batchId}`, { key: agentKey })).json()) as { items: Array<{ id: string; status: string }> };
    expect(batch.items.filter((item) => item.status === 'pending').map((item) => item.id)).toEqual([first.id]);
    // Medium risk does not match batching: it gets its own ticket.
    const single = await request({ project: 'bulk', risk: 'medium' });
    expect(single.batchId).toBeNull();
  });
});
