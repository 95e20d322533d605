import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { verifyCallback, CallbackVerificationError } from '../../src/client/index.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { createApiKey } from '../../src/keys/api-keys.ts';

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
    // A compressed retry schedule: three retries 150 ms apart, then dead.
    server = await startTestServer(database, { callbackRetryScheduleMs: [150, 150, 150] });
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
    const headers = { ...callback!.headers, 'webhook-signature': new Webhook(agent.webhookSecret).sign(callback!.headers['webhook-id']!, new Date(), forgedBody) };
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

  it.each(['http://127.0.0.1:9000/hook', 'http://localhost/hook', 'http://10.0.0.5/hook', 'http://169.254.169.254/latest', 'http://[::1]/hook', 'http://[::ffff:127.0.0.1]/x', 'http://internal.example/hook'])(
    'refuses %s for a key without an allow-list, and writes nothing',
    async (url) => {
      const before = await server.services.db.selectFrom('approvals').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      const response = await intake(openKey, url);
      expect(response.status).toBe(422);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('callback_not_allowed');
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
