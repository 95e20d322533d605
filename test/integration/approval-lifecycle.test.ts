import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

describeEachDatabase('approval lifecycle on the local provider', (database) => {
  let server: TestServer;
  let agentKey: string;
  let aliceKey: string;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'] }]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
    aliceKey = await server.key({ scopes: ['review'], reviewer: 'alice' });
  });
  afterAll(() => server?.close());

  it('accepts a request at once, opens its ticket, and wakes a long poll when alice approves', async () => {
    const intake = await server.fetch('/v1/approvals', {
      key: agentKey,
      json: { project: 'billing-bot', action: 'send_email', summary: 'Send the reply', payload: { to: 'ops@acme.example', n: 1 }, requestedBy: 'agent-7' },
    });
    expect(intake.status).toBe(202);
    const created = (await intake.json()) as { id: string; status: string; payloadHash: string };
    expect(intake.headers.get('location')).toBe(`/v1/approvals/${created.id}`);
    expect(created.status).toBe('pending');
    // The hash covers the RFC 8785 form: keys sorted, no spaces.
    expect(created.payloadHash).toBe(`sha256:${createHash('sha256').update('{"n":1,"to":"ops@acme.example"}').digest('hex')}`);

    const withTicket = await until(
      async () => (await (await server.fetch(`/v1/approvals/${created.id}`, { key: agentKey })).json()) as { ticket: { provider: string; key: string } | null },
      (a) => a.ticket !== null,
    );
    expect(withTicket.ticket).toMatchObject({ provider: 'local', key: created.id });

    const started = Date.now();
    const poll = server.fetch(`/v1/approvals/${created.id}?wait=20`, { key: agentKey });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const decision = await server.fetch(`/v1/approvals/${created.id}/decision`, { key: aliceKey, json: { outcome: 'approve', reason: 'fine' } });
    expect(decision.status).toBe(200);
    const answered = (await (await poll).json()) as { status: string; decision: { by: string[]; outcome: string; reason: string } };
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(answered.status).toBe('approved');
    expect(answered.decision).toMatchObject({ outcome: 'approved', by: ['alice'], reason: 'fine' });
  });
});
