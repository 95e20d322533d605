import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { verifyCallback, CallbackVerificationError } from '../../src/client/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { fakeDns } from '../helpers/fake-dns.ts';
import { rowCounts } from '../helpers/row-counts.ts';

interface ApprovalBody {
  id: string;
  status: string;
  payloadHash: string;
  callback: { webhookId: string; status: string; attempts: number; lastStatus: number | null } | null;
}

describeEachDatabase('decision callbacks', (database) => {
  let server: TestServer;
  let receiver: CallbackReceiver;
  let agent: { key: string; webhookSecret: string };
  let aliceKey: string;
  let bobKey: string;
  let adminKey: string;

  beforeAll(async () => {
    // A compressed retry schedule: three retries 150 ms apart, then dead; the sweep that sends them looks every 50 ms.
    server = await startTestServer(database, { callbackRetryScheduleMs: [150, 150, 150], callbackSweepMs: 50 });
    await server.projects([
      { key: 'mail', provider: 'local', reviewers: ['alice', 'bob'] },
      { key: 'quorum', provider: 'local', reviewers: ['alice', 'bob', 'carol'], requiredApprovals: 2 },
    ]);
    const created = await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    agent = { key: created.key, webhookSecret: created.webhookSecret };
    aliceKey = await server.key({ scopes: ['review'], reviewer: 'alice' });
    bobKey = await server.key({ scopes: ['review'], reviewer: 'bob' });
    adminKey = await server.key({ scopes: ['admin'] });
  });
  afterAll(() => server?.close());
  beforeEach(async () => {
    receiver = await startCallbackReceiver();
  });
  afterEach(() => receiver.close());

  const request = async (project = 'mail', payload: unknown = { to: 'ops@acme.example' }) => {
    const response = await server.fetch('/v1/approvals', { key: agent.key, json: { project, action: 'send_email', summary: 'Send it', payload, callbackUrl: receiver.url } });
    expect(response.status).toBe(202);
    return (await response.json()) as ApprovalBody;
  };
  const decide = (id: string, key: string, outcome: 'approve' | 'reject', reason?: string) =>
    server.fetch(`/v1/approvals/${id}/decision`, { key, json: { outcome, ...(reason ? { reason } : {}) } });
  const read = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agent.key })).json()) as ApprovalBody;

  it('sends a callback that the standardwebhooks verifier accepts, with a receipt bound to the payload hash', async () => {
    const approval = await request();
    expect((await decide(approval.id, aliceKey, 'approve', 'ok')).status).toBe(200);
    const [callback] = await receiver.waitFor(1);

    const event = new Webhook(agent.webhookSecret).verify(callback!.body, callback!.headers) as { type: string; data: { id: string; status: string; payloadHash: string; decision: { by: string[] } } };
    expect(event.type).toBe('approval.decided');
    expect(event.data).toMatchObject({ id: approval.id, status: 'approved', payloadHash: approval.payloadHash, decision: { by: ['alice'] } });

    const verified = verifyCallback(callback!.body, callback!.headers, agent.webhookSecret, { publicKey: server.services.signer.publicKeyPem, expectedPayloadHash: approval.payloadHash });
    expect(verified.webhookId).toBe(callback!.headers['webhook-id']);

    // The receiver answers before the delivery is recorded: poll for the record.
    await expect.poll(async () => (await read(approval.id)).callback?.status).toBe('delivered');
    expect((await read(approval.id)).callback).toMatchObject({ attempts: 1, lastStatus: 200, webhookId: callback!.headers['webhook-id'] });
  });

  it('refuses a tampered callback body, a wrong secret, and a receipt for another payload', async () => {
    const approval = await request();
    await decide(approval.id, aliceKey, 'reject', 'not now');
    const [callback] = await receiver.waitFor(1);
    const tampered = callback!.body.replace('"rejected"', '"approved"');
    expect(() => verifyCallback(tampered, callback!.headers, agent.webhookSecret)).toThrow(CallbackVerificationError);
    const otherSecret = (await createApiKey(server.services, { name: 'other', scopes: ['intake'] })).webhookSecret;
    expect(() => verifyCallback(callback!.body, callback!.headers, otherSecret)).toThrow(CallbackVerificationError);
    expect(() => verifyCallback(callback!.body, callback!.headers, agent.webhookSecret, { expectedPayloadHash: `sha256:${'0'.repeat(64)}` })).toThrow(/not sha256:0000/);

    // A receipt re-signed over a changed decision does not verify with the service's key.
    const event = JSON.parse(callback!.body) as { data: { status: string } };
    event.data.status = 'approved';
    const forgedBody = JSON.stringify(event);
    // Signed over the header's own timestamp: with new Date() the check failed on the HMAC, not the receipt, whenever a second ticked in between.
    const sentAt = new Date(Number(callback!.headers['webhook-timestamp']) * 1000);
    const headers = { ...callback!.headers, 'webhook-signature': new Webhook(agent.webhookSecret).sign(callback!.headers['webhook-id']!, sentAt, forgedBody) };
    expect(() => verifyCallback(forgedBody, headers, agent.webhookSecret, { publicKey: server.services.signer.publicKeyPem })).toThrow(/receipt/);
  });

  it('retries a receiver that is down, with the same webhook-id, until it is up', async () => {
    receiver.answer(503);
    const approval = await request();
    await decide(approval.id, aliceKey, 'approve');
    await receiver.waitFor(2);
    receiver.answer(200);
    const attempts = await receiver.waitFor(3);
    const ids = new Set(attempts.map((a) => a.headers['webhook-id']));
    expect(ids.size).toBe(1);
    // Every attempt carries its own timestamp and a signature over it.
    for (const attempt of attempts) expect(() => new Webhook(agent.webhookSecret).verify(attempt.body, attempt.headers)).not.toThrow();
    await expect.poll(async () => (await read(approval.id)).callback?.status).toBe('delivered');
    expect((await read(approval.id)).callback?.attempts).toBe(3);
  });

  it('honours Retry-After on 429', async () => {
    receiver.answer(429, { 'retry-after': '1' });
    const approval = await request();
    await decide(approval.id, aliceKey, 'approve');
    await receiver.waitFor(1);
    receiver.answer(200);
    const [first, second] = await receiver.waitFor(2);
    // The schedule says 150 ms; the receiver asked for a second.
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
  });

  it('marks a callback that always fails dead, and an admin can redeliver it with the same webhook-id', async () => {
    receiver.answer(500);
    const approval = await request();
    await decide(approval.id, aliceKey, 'approve');
    await expect.poll(async () => (await read(approval.id)).callback?.status, { timeout: 10_000 }).toBe('dead');
    expect(receiver.received).toHaveLength(4);

    expect((await server.fetch(`/v1/approvals/${approval.id}/redeliver`, { key: agent.key, method: 'POST' })).status).toBe(403);
    receiver.answer(200);
    const redeliver = await server.fetch(`/v1/approvals/${approval.id}/redeliver`, { key: adminKey, method: 'POST' });
    expect(redeliver.status).toBe(202);
    await receiver.waitFor(5);
    expect(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size).toBe(1);
    await expect.poll(async () => (await read(approval.id)).callback?.status).toBe('delivered');
  });

  it('gives exactly one outcome and one callback when two reviewers decide at once', async () => {
    const approval = await request();
    const [a, b] = await Promise.all([decide(approval.id, aliceKey, 'approve'), decide(approval.id, bobKey, 'reject', 'no')]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    await receiver.waitFor(1);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.received).toHaveLength(1);
    const final = await read(approval.id);
    expect(JSON.parse(receiver.received[0]!.body).data.status).toBe(final.status);
  });

  it('needs two distinct reviewers under requiredApprovals 2; the same reviewer twice does not count', async () => {
    const approval = await request('quorum');
    expect((await decide(approval.id, aliceKey, 'approve')).status).toBe(202);
    expect((await decide(approval.id, aliceKey, 'approve')).status).toBe(409);
    expect((await read(approval.id)).status).toBe('pending');
    expect((await decide(approval.id, bobKey, 'approve')).status).toBe(200);
    const [callback] = await receiver.waitFor(1);
    expect(JSON.parse(callback!.body).data.decision.by).toEqual(['alice', 'bob']);
  });
});

describeEachDatabase('callback URL checks at intake', (database) => {
  let server: TestServer;
  let openKey: string;
  let listedKey: string;

  beforeAll(async () => {
    server = await startTestServer(database, { resolveHost: async (host) => (host === 'internal.example' ? ['10.1.2.3'] : ['93.184.216.34']) });
    await server.projects([{ key: 'mail', provider: 'local', reviewers: ['alice'] }]);
    openKey = await server.key({ scopes: ['intake', 'read'] });
    listedKey = await server.key({ scopes: ['intake', 'read'], callbackHosts: ['hooks.example.com'] });
  });
  afterAll(() => server?.close());

  const intake = (key: string, callbackUrl: string) => server.fetch('/v1/approvals', { key, json: { project: 'mail', action: 'a', summary: 's', callbackUrl } });

  it.each([
    'http://127.0.0.1:9000/hook',
    'http://localhost/hook',
    'http://10.0.0.5/hook',
    'http://169.254.169.254/latest',
    'http://[::1]/hook',
    'http://[::ffff:127.0.0.1]/x',
    'http://[::ffff:7f00:1]/x',
    'http://[0:0:0:0:0:ffff:127.0.0.1]/x',
    'http://[::127.0.0.1]/x',
    'http://[64:ff9b::7f00:1]/x',
    'http://[2002:7f00:1::1]/x',
    'http://[fec0::1]/x',
    'http://[100::1]/x',
    'http://127.1/x',
    'http://0x7f.1/x',
    'http://2130706433/x',
    'http://0177.0.0.1/x',
    'http://internal.example/hook',
  ])(
    'refuses %s for a key without an allow-list, and writes nothing',
    async (url) => {
      const before = await server.services.db.selectFrom('approvals').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      const response = await intake(openKey, url);
      expect(response.status).toBe(422);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('callback_not_allowed');
      // The fix it names allows the host, not the one port a receiver happened to get this run.
      expect(error.message).toContain(`--callback-hosts ${new URL(url).hostname} (every port`);
      const after = await server.services.db.selectFrom('approvals').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      expect(Number(after.n)).toBe(Number(before.n));
    },
  );

  it('accepts a public host, and holds a listed key to its list', async () => {
    expect((await intake(openKey, 'https://hooks.example.com/approval')).status).toBe(202);
    expect((await intake(listedKey, 'https://hooks.example.com/approval')).status).toBe(202);
    expect((await intake(listedKey, 'https://elsewhere.example.com/approval')).status).toBe(422);
  });
});

describeEachDatabase('callback destinations at delivery', (database) => {
  let server: TestServer;
  let receiver: CallbackReceiver;
  let elsewhere: CallbackReceiver;
  let reviewerKey: string;
  // Answers a public address while the approval is taken in, then loopback: DNS rebinding.
  const dns = fakeDns({});

  beforeAll(async () => {
    server = await startTestServer(database, { resolveHost: dns, callbackRetryScheduleMs: [150, 150, 150], callbackSweepMs: 50 });
    await server.projects([{ key: 'mail', provider: 'local', reviewers: ['alice'] }]);
    reviewerKey = await server.key({ scopes: ['review'], reviewer: 'alice' });
  });
  afterAll(() => server?.close());
  beforeEach(async () => {
    receiver = await startCallbackReceiver();
    elsewhere = await startCallbackReceiver();
  });
  afterEach(async () => {
    await receiver.close();
    await elsewhere.close();
  });

  const port = (r: CallbackReceiver) => new URL(r.url).port;
  const intake = (key: string, callbackUrl: string) => server.fetch('/v1/approvals', { key, json: { project: 'mail', action: 'a', summary: 's', callbackUrl } });
  const read = async (id: string, key: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key })).json()) as ApprovalBody & { callback: { lastError: string | null } | null };

  it('refuses at connect time a host that resolved to a public address at intake and to loopback at delivery (DNS rebinding)', async () => {
    const agentKey = await server.key({ scopes: ['intake', 'read'] });
    const url = `http://rebind.example:${port(receiver)}/hooks/approval`;
    dns.answer({ 'rebind.example': ['93.184.216.34'] });
    const created = await intake(agentKey, url);
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as ApprovalBody;
    expect(dns.asked).toEqual(['rebind.example']);

    // No connection is ever made to the public address: deliveries happen only after this.
    dns.answer({ 'rebind.example': ['127.0.0.1'] });
    expect((await server.fetch(`/v1/approvals/${id}/decision`, { key: reviewerKey, json: { outcome: 'approve' } })).status).toBe(200);

    await expect.poll(async () => (await read(id, agentKey)).callback?.status).toBe('dead');
    const { callback } = await read(id, agentKey);
    expect(callback).toMatchObject({ attempts: 1, lastStatus: null });
    expect(callback!.lastError).toMatch(/rebind\.example resolves to an address in a non-public range \(loopback\)/);
    expect(callback!.lastError).not.toContain('127.0.0.1');
    // The delivery resolved the name again, and never reached the receiver.
    expect(dns.asked).toEqual(['rebind.example', 'rebind.example']);
    expect(receiver.connections).toBe(0);
    expect(receiver.received).toHaveLength(0);

    const auditEvents = async () => ((await (await server.fetch(`/v1/audit?approvalId=${id}`, { key: agentKey })).json()) as { records: Array<{ event: string }> }).records.map((r) => r.event);
    await expect.poll(auditEvents).toContain('callback.dead');
  });

  it('does not follow a 302 from an allow-listed receiver to a loopback port the key does not list', async () => {
    const agentKey = await server.key({ scopes: ['intake', 'read'], callbackHosts: [`127.0.0.1:${port(receiver)}`] });
    receiver.answer(302, { location: elsewhere.url });
    // The redirect target itself is refused at intake: the key lists one port only.
    expect((await intake(agentKey, elsewhere.url)).status).toBe(422);
    const created = await intake(agentKey, receiver.url);
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as ApprovalBody;
    await server.fetch(`/v1/approvals/${id}/decision`, { key: reviewerKey, json: { outcome: 'approve' } });

    // Every attempt answered 302; all of them done, none went anywhere else.
    await expect.poll(async () => (await read(id, agentKey)).callback?.status, { timeout: 10_000 }).toBe('dead');
    const { callback } = await read(id, agentKey);
    expect(callback).toMatchObject({ attempts: 4, lastStatus: 302, lastError: 'receiver answered 302; redirects are not followed' });
    expect(receiver.received).toHaveLength(4);
    expect(elsewhere.connections).toBe(0);
  });

  it('answers 422 naming callbackUrl for a URL with credentials, never echoing it, and writes nothing', async () => {
    const agentKey = await server.key({ scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    const before = await rowCounts(server.services);
    const response = await intake(agentKey, `http://agent7:s3cr3t@127.0.0.1:${port(receiver)}/hooks/approval`);
    expect(response.status).toBe(422);
    const text = await response.text();
    const body = JSON.parse(text) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_request');
    expect(body.error.message).toMatch(/^callbackUrl: must not contain credentials/);
    expect(text).not.toMatch(/s3cr3t|agent7/);
    expect(await rowCounts(server.services)).toEqual(before);
    // Nor anywhere a refused request could have left it.
    for (const table of ['audit_records', 'approvals', 'callback_deliveries']) {
      const { rows } = await sql<{ n: string | number }>`select count(*) as n from ${sql.raw(table)} t where t::text like '%s3cr3t%'`.execute(server.services.db);
      expect(Number(rows[0]!.n)).toBe(0);
    }
  });

  it.each([
    ['ftp://127.0.0.1/x', 'callbackUrl: expected an http or https URL'],
    ['file:///etc/passwd', 'callbackUrl: expected an http or https URL'],
    ['http://127.0.0.1/x#frag', 'callbackUrl: must not contain a fragment'],
  ])('answers 422 naming callbackUrl for %s', async (url, message) => {
    const agentKey = await server.key({ scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    const response = await intake(agentKey, url);
    expect(response.status).toBe(422);
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(new RegExp(`^${message}`));
  });
});
