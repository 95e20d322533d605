import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { executorFor } from '../../src/db/open-database.ts';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

/**
 * Found by the soak (issue 19): an instance killed while sending a callback leaves its claim on
 * the delivery. Whatever looks for it next must come back once the claim lapses, or the
 * callback stays pending with nothing left to send it. Since issue 21 that is the sweep; a
 * `callback-deliver` job queued by an older version still runs too.
 */
describeEachDatabase('a callback whose sender died holding its claim', (database) => {
  let sweeping: TestServer;
  let jobsOnly: TestServer;
  let receiver: CallbackReceiver;

  /** An agent's approval on `server`, decided and delivered once. */
  async function delivered(server: TestServer): Promise<{ id: string; webhookId: string }> {
    const agent = (await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] })).key;
    const alice = await server.key({ scopes: ['review'], reviewer: 'alice' });
    const before = receiver.received.length;
    const response = await server.fetch('/v1/approvals', { key: agent, json: { project: 'mail', action: 'send_email', summary: 'Send it', callbackUrl: receiver.url } });
    const { id } = (await response.json()) as { id: string };
    expect((await server.fetch(`/v1/approvals/${id}/decision`, { key: alice, json: { outcome: 'approve' } })).status).toBe(200);
    const received = await receiver.waitFor(before + 1);
    await expect.poll(async () => (await server.services.callbacks.find(id))?.status).toBe('delivered');
    return { id, webhookId: received.at(-1)!.headers['webhook-id']! };
  }

  beforeAll(async () => {
    sweeping = await startTestServer(database, { callbackSweepMs: 100 });
    // A sweep that never comes round in a test: only the job can send.
    jobsOnly = await startTestServer(database, { callbackSweepMs: 3_600_000 });
    for (const server of [sweeping, jobsOnly]) await server.projects([{ key: 'mail', provider: 'local', reviewers: ['alice'] }]);
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    await sweeping?.close();
    await jobsOnly?.close();
    await receiver?.close();
  });

  it('is sent by the sweep once the claim lapses', async () => {
    const { id, webhookId } = await delivered(sweeping);
    const before = receiver.received.length;
    // As a sender leaves it when killed between its claim and its send: pending, claimed for a second more.
    await sql`update callback_deliveries set status = 'pending', delivered_at = null, claimed_until = now() + interval '1 second' where approval_id = ${id}`.execute(sweeping.services.db);

    const again = (await receiver.waitFor(before + 1, 20_000)).at(-1)!;
    expect(again.headers['webhook-id']).toBe(webhookId);
    await expect.poll(async () => (await sweeping.services.callbacks.find(id))?.status, { timeout: 10_000 }).toBe('delivered');
  }, 60_000);

  it('is sent by a callback-deliver job queued before the sweep existed', async () => {
    const { id, webhookId } = await delivered(jobsOnly);
    const before = receiver.received.length;
    // Pending and unclaimed, as an older version left a delivery next to its backup job.
    await sql`update callback_deliveries set status = 'pending', delivered_at = null, claimed_until = null where approval_id = ${id}`.execute(jobsOnly.services.db);
    await jobsOnly.services.jobs.send(executorFor(jobsOnly.services.db), 'callback-deliver', { approvalId: id });

    const again = (await receiver.waitFor(before + 1, 20_000)).at(-1)!;
    expect(again.headers['webhook-id']).toBe(webhookId);
    await expect.poll(async () => (await jobsOnly.services.callbacks.find(id))?.status, { timeout: 10_000 }).toBe('delivered');
  }, 60_000);
});
