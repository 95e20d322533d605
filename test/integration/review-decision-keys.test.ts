import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashApiKey, revokeApiKey } from '../../src/keys/api-keys.ts';
import type { Services } from '../../src/services.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

interface Decided {
  id: string;
  status: string;
  decision: { by: string[] } | null;
  votes?: { approvals: number; required: number };
}

async function revoke(services: Services, secret: string): Promise<void> {
  const { id } = await services.db.selectFrom('api_keys').select('id').where('key_hash', '=', hashApiKey(secret)).executeTakeFirstOrThrow();
  await revokeApiKey(services, id);
}

/** What a decision can write: votes, audit entries (chained or queued) and a decided approval. */
async function decisionRows(services: Services, approvalId: string) {
  await services.audit.flush();
  const { rows } = await sql<{ votes: string | number; audited: string | number; status: string }>`
    select (select count(*) from decision_votes where approval_id = ${approvalId}) as votes,
           (select count(*) from audit_records where approval_id = ${approvalId}) as audited,
           (select status from approvals where id = ${approvalId}) as status`.execute(services.db);
  return { votes: Number(rows[0]!.votes), audited: Number(rows[0]!.audited), status: rows[0]!.status };
}

// The review API keeps the keys it has seen (src/keys/principal-cache.ts) and reads nothing before
// the decision's row lock, whose statement confirms the key and whose transaction checks the
// project and the provider: none of what it no longer reads up front may let a decision through.
describeEachDatabase('review API decisions with cached keys', (database) => {
  let server: TestServer;
  let agent: string;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([
      { key: 'ops', provider: 'local', reviewers: ['alice', 'bob'] },
      { key: 'pair', provider: 'local', reviewers: ['alice', 'bob', 'carol'], requiredApprovals: 2 },
      { key: 'other', provider: 'local', reviewers: ['alice'] },
    ]);
    agent = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(() => server?.close());

  const request = async (project = 'ops') => {
    const response = await server.fetch('/v1/approvals', { key: agent, json: { project, action: 'send_email', summary: 'Send the invoice' } });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  const decide = (key: string, id: string, body: Record<string, unknown> = { outcome: 'approve' }) => server.fetch(`/v1/approvals/${id}/decision`, { key, json: body });

  it('refuses a review key at once when it is revoked after its first decision, and writes nothing', async () => {
    const alice = await server.key({ scopes: ['review'], reviewer: 'alice' });
    expect((await decide(alice, await request())).status).toBe(200);
    await revoke(server.services, alice);
    const id = await request();
    const before = await decisionRows(server.services, id);
    const refused = await decide(alice, id);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    expect(await decisionRows(server.services, id)).toEqual(before);
    // And again, once the cache has dropped it.
    expect((await decide(alice, id)).status).toBe(401);
    expect(await decisionRows(server.services, id)).toEqual({ ...before, status: 'pending' });
  });

  it('answers a revoked review key 401, not what it would learn about an unknown, decided or malformed request', async () => {
    const bob = await server.key({ scopes: ['review'], reviewer: 'bob' });
    const decided = await request();
    expect((await decide(bob, decided)).status).toBe(200);
    await revoke(server.services, bob);
    expect((await decide(bob, 'apr_01arz3ndektsv4rrffq69g5fav')).status).toBe(401);
    expect((await decide(bob, decided)).status).toBe(401);
    expect((await decide(bob, await request(), { outcome: 'maybe' })).status).toBe(401);
  });

  it('still answers a live key 404 for an approval outside its project and 409 for one already decided, writing nothing', async () => {
    const scoped = await server.key({ scopes: ['review'], reviewer: 'alice', project: 'other' });
    const outside = await request('ops');
    expect((await decide(scoped, outside)).status).toBe(404);
    expect(await decisionRows(server.services, outside)).toEqual({ votes: 0, audited: 1, status: 'pending' });
    const alice = await server.key({ scopes: ['review'], reviewer: 'alice' });
    const id = await request();
    expect((await decide(alice, id)).status).toBe(200);
    const late = await decide(alice, id);
    expect(late.status).toBe(409);
    expect(((await late.json()) as { error: { code: string } }).error.code).toBe('already_decided');
  });

  it('decides with the mapping as it is now: a reviewer removed since the key’s last decision is refused', async () => {
    const carol = await server.key({ scopes: ['review'], reviewer: 'carol' });
    expect((await decide(carol, await request('pair'))).status).toBe(202);
    await server.projects([{ key: 'pair', provider: 'local', reviewers: ['alice', 'bob'], requiredApprovals: 2 }]);
    const refused = await decide(carol, await request('pair'));
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('not_a_reviewer');
    await server.projects([{ key: 'pair', provider: 'local', reviewers: ['alice', 'bob', 'carol'], requiredApprovals: 2 }]);
  });

  it('2 of N: two reviewers deciding at the same moment decide it once, with both votes counted', async () => {
    const alice = await server.key({ scopes: ['review'], reviewer: 'alice' });
    const bob = await server.key({ scopes: ['review'], reviewer: 'bob' });
    for (let round = 0; round < 5; round++) {
      const id = await request('pair');
      const answers = await Promise.all([decide(alice, id), decide(bob, id)]);
      expect(answers.map((answer) => answer.status).sort()).toEqual([200, 202]);
      const decided = (await Promise.all(answers.map(async (answer) => (await answer.json()) as Decided))).find((view) => view.status === 'approved')!;
      expect([...decided.decision!.by].sort()).toEqual(['alice', 'bob']);
      expect(await decisionRows(server.services, id)).toEqual({ votes: 2, audited: 3, status: 'approved' });
    }
  });
});
