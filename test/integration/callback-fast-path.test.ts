import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/keys/api-keys.ts';
import type { DatabaseTarget } from '../../src/db/open-database.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.ts';
import { describeEachDatabase, postgresDatabase, postgresUrl, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

interface CallbackView {
  webhookId: string;
  status: string;
  attempts: number;
  nextAttemptAt: string | null;
}

/** The agent's key, a reviewer key per reviewer, and calls against one server. */
async function prepare(server: TestServer, reviewers: string[]) {
  const agent = await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
  const keys = Object.fromEntries(await Promise.all(reviewers.map(async (reviewer) => [reviewer, await server.key({ scopes: ['review'], reviewer })] as const)));
  return {
    async request(callbackUrl: string) {
      const response = await server.fetch('/v1/approvals', { key: agent.key, json: { project: 'mail', action: 'send_email', summary: 'Send it', payload: { to: 'ops@acme.example' }, callbackUrl } });
      expect(response.status).toBe(202);
      return ((await response.json()) as { id: string }).id;
    },
    decide: (id: string, reviewer: string) => server.fetch(`/v1/approvals/${id}/decision`, { key: keys[reviewer]!, json: { outcome: 'approve' } }),
    async callback(id: string) {
      return ((await (await server.fetch(`/v1/approvals/${id}`, { key: agent.key })).json()) as { callback: CallbackView }).callback;
    },
  };
}

/** The `callback-deliver` jobs pg-boss holds for the approval: none since the sweep replaced the backup job. */
async function callbackJobs(server: TestServer, approvalId: string): Promise<number> {
  const { rows } = await sql<{ count: string | number }>`select count(*) from pgboss.job where name = 'callback-deliver' and data->>'approvalId' = ${approvalId}`.execute(server.services.db);
  return Number(rows[0]!.count);
}

/** Waits past a sender's claim, and a few sweeps after it: whatever the sweep would send has been sent by then. */
const pastClaim = (claimMs: number) => new Promise((resolve) => setTimeout(resolve, claimMs + 500));

const webhookIds = (receiver: CallbackReceiver) => new Set(receiver.received.map((callback) => callback.headers['webhook-id']));

describeEachDatabase('callbacks sent from the deciding commit', (database) => {
  // `live` sends at commit; `dying` behaves like a process that died right after each decision's
  // commit, before its POST, so only the sweep (once the claim runs out) sends.
  let live: TestServer;
  let dying: TestServer;
  let liveApi: Awaited<ReturnType<typeof prepare>>;
  let dyingApi: Awaited<ReturnType<typeof prepare>>;
  let receiver: CallbackReceiver;
  beforeAll(async () => {
    live = await startTestServer(database, { callbackClaimMs: 1_000, callbackSweepMs: 100, callbackRetryScheduleMs: [200, 200] });
    dying = await startTestServer(database, { callbackClaimMs: 1_000, callbackSweepMs: 100, callbackSendAtCommit: false });
    for (const server of [live, dying]) await server.projects([{ key: 'mail', provider: 'local', reviewers: ['alice', 'bob'] }]);
    liveApi = await prepare(live, ['alice']);
    dyingApi = await prepare(dying, ['alice']);
  });
  afterAll(async () => {
    await live?.close();
    await dying?.close();
  });
  beforeEach(async () => {
    receiver = await startCallbackReceiver();
  });
  afterEach(() => receiver.close());

  /** The callbacks the receiver got for one approval (a port is reused between tests, so an earlier test's retry could land here). */
  const callbacksOf = (id: string) => receiver.received.filter((callback) => (JSON.parse(callback.body) as { data: { id: string } }).data.id === id);

  it('arrives from the commit, queues no job, and the sweep, once the claim has lapsed, sends nothing more', async () => {
    const id = await liveApi.request(receiver.url);
    expect((await liveApi.decide(id, 'alice')).status).toBe(200);
    const [callback] = await receiver.waitFor(1);
    await until(() => liveApi.callback(id), (view) => view.status === 'delivered');
    await pastClaim(1_000);
    expect(callbacksOf(id)).toHaveLength(1);
    expect(await liveApi.callback(id)).toMatchObject({ status: 'delivered', attempts: 1, webhookId: callback!.headers['webhook-id'] });
    expect(await callbackJobs(live, id)).toBe(0);
  });

  it('is sent by the sweep, under the webhook-id the decision recorded, when the deciding process died between commit and POST', async () => {
    const id = await dyingApi.request(receiver.url);
    expect((await dyingApi.decide(id, 'alice')).status).toBe(200);
    const recorded = await dyingApi.callback(id);
    expect(recorded).toMatchObject({ status: 'pending', attempts: 0 });
    await receiver.waitFor(1);
    await until(() => dyingApi.callback(id), (view) => view.status === 'delivered');
    expect(callbacksOf(id).map((callback) => callback.headers['webhook-id'])).toEqual([recorded.webhookId]);
    expect(await callbackJobs(dying, id)).toBe(0);
  });

  it('has an attempt that finds another sender holding the delivery leave it to the sweep, which sends it once that claim runs out', async () => {
    const id = await dyingApi.request(receiver.url);
    expect((await dyingApi.decide(id, 'alice')).status).toBe(200);
    // The deciding process's claim is still live: a redeliver-style attempt now must not send a second copy.
    expect(await dying.services.callbacks.attempt(id)).toBe('skipped');
    await receiver.waitFor(1);
    await until(() => dyingApi.callback(id), (view) => view.status === 'delivered');
    expect(callbacksOf(id).map((callback) => callback.headers['webhook-id'])).toEqual([(await dyingApi.callback(id)).webhookId]);
  });

  it('gives a receiver that is down on the first attempt the retry schedule, under one webhook-id, from the sweep', async () => {
    receiver.answer(503);
    const id = await liveApi.request(receiver.url);
    expect((await liveApi.decide(id, 'alice')).status).toBe(200);
    await receiver.waitFor(1);
    const failed = await until(() => liveApi.callback(id), (view) => view.attempts === 1);
    expect(failed).toMatchObject({ status: 'pending' });
    expect(failed.nextAttemptAt).not.toBeNull();
    receiver.answer(200);
    await receiver.waitFor(2);
    await until(() => liveApi.callback(id), (view) => view.status === 'delivered');
    expect(await liveApi.callback(id)).toMatchObject({ attempts: 2 });
    await pastClaim(1_000);
    expect(callbacksOf(id).map((callback) => callback.headers['webhook-id'])).toEqual([failed.webhookId, failed.webhookId]);
    expect(await callbackJobs(live, id)).toBe(0);
  });

  it('redelivers from the sweep when the process that reset the delivery did not send it', async () => {
    const id = await liveApi.request(receiver.url);
    expect((await liveApi.decide(id, 'alice')).status).toBe(200);
    await receiver.waitFor(1);
    await until(() => liveApi.callback(id), (view) => view.status === 'delivered');
    // The admin route resets, then sends at once; here the send never happens (the process died in between).
    await live.services.callbacks.redeliver(id);
    await receiver.waitFor(2);
    await until(() => liveApi.callback(id), (view) => view.status === 'delivered' && view.attempts === 2);
    expect(new Set(callbacksOf(id).map((callback) => callback.headers['webhook-id'])).size).toBe(1);
  });
});

describeEachDatabase('the callback sweep at shutdown', (database) => {
  let server: TestServer;
  let receiver: CallbackReceiver;
  beforeAll(async () => {
    server = await startTestServer(database, { callbackSweepMs: 50 });
    await server.projects([{ key: 'mail', provider: 'local', reviewers: ['alice'] }]);
    receiver = await startCallbackReceiver();
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  it('sends nothing once stopped, and what was due then goes out when a sweep runs again', async () => {
    const api = await prepare(server, ['alice']);
    const id = await api.request(receiver.url);
    expect((await api.decide(id, 'alice')).status).toBe(200);
    await receiver.waitFor(1);
    await until(() => api.callback(id), (view) => view.status === 'delivered');

    await server.services.callbacks.drain();
    // Due and unclaimed, as a redelivery leaves it: a sweep still running would send it within 50 ms.
    await sql`update callback_deliveries set status = 'pending', claimed_until = null, next_attempt_at = null where approval_id = ${id}`.execute(server.services.db);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.received).toHaveLength(1);

    server.services.callbacks.startSweep();
    await receiver.waitFor(2);
    await until(() => api.callback(id), (view) => view.status === 'delivered' && view.attempts === 2);
  });
});

describe.skipIf(!postgresUrl)('callbacks when two instances on one PostgreSQL decide at once', () => {
  let shared: { target: DatabaseTarget; dispose: () => Promise<void> };
  const servers: TestServer[] = [];
  let receiver: CallbackReceiver;
  afterAll(async () => {
    for (const server of servers) await server.close();
    await receiver?.close();
    await shared?.dispose();
  });

  it('POSTs the first attempt once, from the instance whose decision won, and neither sweep sends anything more', async () => {
    shared = await postgresDatabase(postgresUrl!).create();
    // Both servers use the one database (each test server would otherwise make its own).
    const sameDatabase: TestDatabase = { name: 'postgres', create: async () => ({ target: shared.target, dispose: async () => undefined }) };
    receiver = await startCallbackReceiver();
    for (let i = 0; i < 2; i++) servers.push(await startTestServer(sameDatabase, { callbackClaimMs: 1_000, callbackSweepMs: 100 }));
    await servers[0]!.projects([{ key: 'mail', provider: 'local', reviewers: ['alice', 'bob', 'carol'] }]);
    const [a, b] = [await prepare(servers[0]!, ['alice']), await prepare(servers[1]!, ['bob'])];

    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await a.request(receiver.url));
    for (const id of ids) {
      const answers = await Promise.all([a.decide(id, 'alice'), b.decide(id, 'bob')]);
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
    }
    await receiver.waitFor(ids.length);
    for (const id of ids) await until(() => servers[0]!.services.callbacks.find(id), (row) => row?.status === 'delivered');
    await pastClaim(1_000);
    expect(receiver.received).toHaveLength(ids.length);
    expect(webhookIds(receiver).size).toBe(ids.length);
  });

  it('has the instances sweeping at once send each delivery whose sender died once, under its webhook-id', async () => {
    // A third instance decides and "dies" after each commit: the others' sweeps (and its own) share the work.
    const dying = await startTestServer({ name: 'postgres', create: async () => ({ target: shared.target, dispose: async () => undefined }) }, { callbackClaimMs: 300, callbackSweepMs: 100, callbackSendAtCommit: false });
    servers.push(dying);
    const api = await prepare(dying, ['carol']);
    const before = receiver.received.length;
    const ids = [];
    for (let i = 0; i < 10; i++) ids.push(await api.request(receiver.url));
    for (const id of ids) expect((await api.decide(id, 'carol')).status).toBe(200);
    await receiver.waitFor(before + ids.length);
    for (const id of ids) await until(() => dying.services.callbacks.find(id), (row) => row?.status === 'delivered');
    await pastClaim(1_000);
    const sent = receiver.received.slice(before);
    expect(sent).toHaveLength(ids.length);
    expect(new Set(sent.map((callback) => callback.headers['webhook-id'])).size).toBe(ids.length);
  });
});
