import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseTarget } from '../../src/db/open-database.ts';
import { postgresDatabase, postgresUrl, type TestDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

/** A second instance opens the first one's database instead of a fresh one. */
const sameDatabase = (target: DatabaseTarget): TestDatabase => ({ name: 'postgres', create: async () => ({ target, dispose: async () => undefined }) });

// PGlite is one process's database; instances share only PostgreSQL.
describe.skipIf(!postgresUrl)('two instances on one PostgreSQL database', () => {
  let a: TestServer;
  let b: TestServer;
  let agent: string;
  let alice: string;

  beforeAll(async () => {
    const fresh = postgresDatabase(postgresUrl!);
    let target: DatabaseTarget | undefined;
    a = await startTestServer({ name: 'postgres', create: async () => { const created = await fresh.create(); target = created.target; return created; } });
    b = await startTestServer(sameDatabase(target!));
    await a.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'] }]);
    agent = await a.key({ scopes: ['intake', 'read'] });
    alice = await b.key({ scopes: ['review'], reviewer: 'alice' });
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('wakes a long poll on instance A when the decision is made through instance B', async () => {
    const created = (await (await a.fetch('/v1/approvals', { key: agent, json: { project: 'billing-bot', action: 'deploy', summary: 'Ship it' } })).json()) as { id: string };
    const poll = a.fetch(`/v1/approvals/${created.id}?wait=30`, { key: agent });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const decided = await b.fetch(`/v1/approvals/${created.id}/decision`, { key: alice, json: { outcome: 'approve' } });
    expect(decided.status).toBe(200);
    const answered = (await (await poll).json()) as { status: string; decision: { by: string[] } };
    expect(answered.status).toBe('approved');
    expect(answered.decision.by).toEqual(['alice']);
  });

  it('wakes a long poll on instance B when the agent cancels through instance A', async () => {
    const created = (await (await b.fetch('/v1/approvals', { key: agent, json: { project: 'billing-bot', action: 'deploy', summary: 'Ship it' } })).json()) as { id: string };
    const poll = b.fetch(`/v1/approvals/${created.id}?wait=30`, { key: agent });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await a.fetch(`/v1/approvals/${created.id}/cancel`, { key: agent, method: 'POST' })).status).toBe(200);
    expect(((await (await poll).json()) as { status: string }).status).toBe('cancelled');
  });

  it('lets only one of two racing decisions through two instances win', async () => {
    const bob = await a.key({ scopes: ['review'], reviewer: 'bob' });
    const created = (await (await a.fetch('/v1/approvals', { key: agent, json: { project: 'billing-bot', action: 'deploy', summary: 'Ship it' } })).json()) as { id: string };
    const [fromA, fromB] = await Promise.all([
      a.fetch(`/v1/approvals/${created.id}/decision`, { key: bob, json: { outcome: 'reject' } }),
      b.fetch(`/v1/approvals/${created.id}/decision`, { key: alice, json: { outcome: 'approve' } }),
    ]);
    expect([fromA.status, fromB.status].sort()).toEqual([200, 409]);
    const winner = fromA.status === 200 ? 'rejected' : 'approved';
    const final = (await (await b.fetch(`/v1/approvals/${created.id}`, { key: agent })).json()) as { status: string };
    expect(final.status).toBe(winner);
  });
});
