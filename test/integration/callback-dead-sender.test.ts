import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { executorFor } from '../../src/db/open-database.ts';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

/**
 * Found by the soak (issue 19): an instance killed while sending a callback leaves its claim on
 * the delivery; the backup job ran a moment before the claim lapsed, found it held, and completed,
 * so the callback stayed pending with nothing left to send it.
 */
describeEachDatabase('a callback whose sender died holding its claim', (database) => {
  let server: TestServer;
  let receiver: CallbackReceiver;
  let agent: string;
  let alice: string;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([{ key: 'mail', provider: 'local', reviewers: ['alice'] }]);
    agent = (await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] })).key;
    alice = await server.key({ scopes: ['review'], reviewer: 'alice' });
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  it('is sent by the backup job once the claim lapses', async () => {
    const response = await server.fetch('/v1/approvals', { key: agent, json: { project: 'mail', action: 'send_email', summary: 'Send it', callbackUrl: receiver.url } });
    const { id } = (await response.json()) as { id: string };
    expect((await server.fetch(`/v1/approvals/${id}/decision`, { key: alice, json: { outcome: 'approve' } })).status).toBe(200);
    const [first] = await receiver.waitFor(1);
    await expect.poll(async () => (await server.services.callbacks.find(id))?.status).toBe('delivered');

    // The decision's own backup job (due 30 s after it) stands for the one that already ran.
    await sql`delete from pgboss.job where name = 'callback-deliver' and data->>'approvalId' = ${id} and state = 'created'`.execute(server.services.db);
    // As a sender leaves it when killed between its claim and its send: pending, claimed for a
    // second more; the backup job comes due now, before the claim lapses.
    await sql`update callback_deliveries set status = 'pending', delivered_at = null, claimed_until = now() + interval '1 second' where approval_id = ${id}`.execute(server.services.db);
    await server.services.jobs.send(executorFor(server.services.db), 'callback-deliver', { approvalId: id });

    const [, again] = await receiver.waitFor(2, 20_000);
    expect(again!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    await expect.poll(async () => (await server.services.callbacks.find(id))?.status, { timeout: 10_000 }).toBe('delivered');
  }, 60_000);
});
