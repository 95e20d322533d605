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

/** The state of the approval's backup `callback-deliver` jobs in pg-boss's table (the first one sent first). */
async function backupJobStates(server: TestServer, approvalId: string): Promise<string[]> {
  const { rows } = await sql<{ state: string }>`select state from pgboss.job where name = 'callback-deliver' and data->>'approvalId' = ${approvalId} order by created_on`.execute(server.services.db);
  return rows.map((row) => row.state);
}

const webhookIds = (receiver: CallbackReceiver) => new Set(receiver.received.map((callback) => callback.headers['webhook-id']));

describeEachDatabase('callbacks sent from the deciding commit', (database) => {
  // `live` sends at commit; `dying` behaves like a process that died right after each decision's
  // commit, before its POST, so only the backup job (due when the claim runs out) sends.
  let live: TestServer;
  let dying: TestServer;
  let liveApi: Awaited<ReturnType<typeof prepare>>;
  let dyingApi: Awaited<ReturnType<typeof prepare>>;
  let receiver: CallbackReceiver;
  beforeAll(async () => {
    live = await startTestServer(database, { callbackClaimMs: 3_000, callbackRetryScheduleMs: [200, 200] });
    dying = await startTestServer(database, { callbackClaimMs: 2_000, callbackSendAtCommit: false });
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

  it('arrives before its backup job is due, and the backup job, when it runs, sends nothing more', async () => {
    const id = await liveApi.request(receiver.url);
    expect((await liveApi.decide(id, 'alice')).status).toBe(200);
    const [callback] = await receiver.waitFor(1);
    // No job worker has run for it: its only job is still waiting to be due.
    expect(await backupJobStates(live, id)).toEqual(['created']);
    await until(() => backupJobStates(live, id), (states) => states.length > 0 && states.every((state) => state === 'completed'));
    expect(callbacksOf(id)).toHaveLength(1);
    expect(await liveApi.callback(id)).toMatchObject({ status: 'delivered', attempts: 1, webhookId: callback!.headers['webhook-id'] });
  });

  it('is sent by the backup job, under the webhook-id the decision recorded, when the deciding process died between commit and POST', async () => {
    const id = await dyingApi.request(receiver.url);
    expect((await dyingApi.decide(id, 'alice')).status).toBe(200);
    const recorded = await dyingApi.callback(id);
    expect(recorded).toMatchObject({ status: 'pending', attempts: 0 });
    await receiver.waitFor(1);
    await until(() => dyingApi.callback(id), (view) => view.status === 'delivered');
    expect(callbacksOf(id).map((callback) => callback.headers['webhook-id'])).toEqual([recorded.webhookId]);
  });

  it('has a job that finds another sender holding the delivery come back when that claim runs out, so a sender that died strands nothing', async () => {
    const id = await dyingApi.request(receiver.url);
    expect((await dyingApi.decide(id, 'alice')).status).toBe(200);
    // The backup job ran early (a pg-boss retry, say) and is gone; the deciding process's claim is still live.
    await sql`delete from pgboss.job where name = 'callback-deliver' and data->>'approvalId' = ${id}`.execute(dying.services.db);
    expect(await dying.services.callbacks.attempt(id)).toBe('skipped');
    await receiver.waitFor(1);
    await until(() => dyingApi.callback(id), (view) => view.status === 'delivered');
    expect(callbacksOf(id).map((callback) => callback.headers['webhook-id'])).toEqual([(await dyingApi.callback(id)).webhookId]);
  });

  it('gives a receiver that is down on the first attempt the retry schedule, under one webhook-id', async () => {
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
    // The backup job, due once the first claim ran out, finds it delivered.
    await until(() => backupJobStates(live, id), (states) => states.length > 0 && states.every((state) => state === 'completed'));
    expect(callbacksOf(id).map((callback) => callback.headers['webhook-id'])).toEqual([failed.webhookId, failed.webhookId]);
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

  it('POSTs the first attempt once, from the instance whose decision won, and the backup job sends nothing more', async () => {
    shared = await postgresDatabase(postgresUrl!).create();
    // Both servers use the one database (each test server would otherwise make its own).
    const sameDatabase: TestDatabase = { name: 'postgres', create: async () => ({ target: shared.target, dispose: async () => undefined }) };
    receiver = await startCallbackReceiver();
    for (let i = 0; i < 2; i++) servers.push(await startTestServer(sameDatabase, { callbackClaimMs: 1_000 }));
    await servers[0]!.projects([{ key: 'mail', provider: 'local', reviewers: ['alice', 'bob'] }]);
    const [a, b] = [await prepare(servers[0]!, ['alice']), await prepare(servers[1]!, ['bob'])];

    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await a.request(receiver.url));
    for (const id of ids) {
      const answers = await Promise.all([a.decide(id, 'alice'), b.decide(id, 'bob')]);
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 409]);
    }
    await receiver.waitFor(ids.length);
    for (const id of ids) await until(() => backupJobStates(servers[0]!, id), (states) => states.length > 0 && states.every((state) => state === 'completed'));
    expect(receiver.received).toHaveLength(ids.length);
    expect(webhookIds(receiver).size).toBe(ids.length);
  });
});
