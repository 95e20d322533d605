import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditSnapshot } from '../../src/audit/read-audit-snapshot.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import type { DatabaseTarget } from '../../src/db/open-database.ts';
import { hashApiKey, revokeApiKey } from '../../src/keys/api-keys.ts';
import type { Services } from '../../src/services.ts';
import { describeEachDatabase, postgresDatabase, postgresUrl, type TestDatabase } from '../helpers/databases.ts';
import { rowCounts } from '../helpers/row-counts.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

interface Approval {
  id: string;
  requiredApprovals: number;
}

const request = { project: 'ops', action: 'send_email', summary: 'Send the invoice' };

async function revoke(services: Services, secret: string): Promise<void> {
  const { id } = await services.db.selectFrom('api_keys').select('id').where('key_hash', '=', hashApiKey(secret)).executeTakeFirstOrThrow();
  await revokeApiKey(services, id);
}

// Intake keeps the keys and mappings it has seen (src/keys/principal-cache.ts, src/intake/project-cache.ts)
// and confirms both in its own write: nothing a revoke or a new mapping changed may slip through.
describeEachDatabase('intake with cached keys and mappings', (database) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([
      { key: 'ops', provider: 'local', reviewers: ['alice', 'bob'] },
      { key: 'timed', provider: 'local', reviewers: ['alice'], escalation: [{ after: '24h', reviewers: ['bob'] }] },
    ]);
  });
  afterAll(() => server?.close());

  it('refuses a key at once when it is revoked after its first intake, and writes nothing', async () => {
    const agent = await server.key({ scopes: ['intake', 'read'] });
    expect((await server.fetch('/v1/approvals', { key: agent, json: request })).status).toBe(202);
    await revoke(server.services, agent);
    const before = await rowCounts(server.services);
    const refused = await server.fetch('/v1/approvals', { key: agent, json: request });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    expect(await rowCounts(server.services)).toEqual(before);
    // And again, once the cache has dropped it.
    expect((await server.fetch('/v1/approvals', { key: agent, json: request })).status).toBe(401);
  });

  it('answers a revoked key 401, not a replay of its earlier request nor a 4xx about its body', async () => {
    const agent = await server.key({ scopes: ['intake', 'read'] });
    const keyed = { key: agent, json: request, headers: { 'idempotency-key': 'order-17' } };
    expect((await server.fetch('/v1/approvals', keyed)).status).toBe(202);
    expect((await server.fetch('/v1/approvals', keyed)).headers.get('idempotent-replayed')).toBe('true');
    await revoke(server.services, agent);
    const before = await rowCounts(server.services);
    const replay = await server.fetch('/v1/approvals', keyed);
    expect(replay.status).toBe(401);
    expect(replay.headers.get('idempotent-replayed')).toBeNull();
    expect((await server.fetch('/v1/approvals', { key: agent, json: { ...request, project: 'nowhere' } })).status).toBe(401);
    expect((await server.fetch('/v1/approvals', { key: agent, method: 'POST', body: '{"project":', headers: { 'content-type': 'application/json' } })).status).toBe(401);
    expect(await rowCounts(server.services)).toEqual(before);
  });

  it('decides the next intake with a mapping applied after the last one', async () => {
    const agent = await server.key({ scopes: ['intake', 'read'] });
    const first = (await (await server.fetch('/v1/approvals', { key: agent, json: request })).json()) as Approval;
    expect(first.requiredApprovals).toBe(1);
    await server.projects([{ key: 'ops', provider: 'local', reviewers: ['alice', 'bob'], requiredApprovals: 2 }]);
    const second = (await (await server.fetch('/v1/approvals', { key: agent, json: request })).json()) as Approval;
    expect(second.requiredApprovals).toBe(2);
    await server.projects([{ key: 'ops', provider: 'local', reviewers: ['alice', 'bob'] }]);
  });

  it('commits each of many concurrent intakes with exactly one audit entry and one job, in a chain that verifies', async () => {
    const agent = await server.key({ scopes: ['intake', 'read'] });
    const responses = await Promise.all(Array.from({ length: 24 }, (_, i) => server.fetch('/v1/approvals', { key: agent, json: { ...request, project: 'timed', summary: `request ${i}` } })));
    expect(responses.map((response) => response.status)).toEqual(Array.from({ length: 24 }, () => 202));
    const ids = await Promise.all(responses.map(async (response) => ((await response.json()) as Approval).id));
    expect(new Set(ids).size).toBe(24);
    await server.services.audit.flush();
    const entries = await server.services.db.selectFrom('audit_records').select('approval_id').where('event', '=', 'approval.requested').where('approval_id', 'in', ids).execute();
    expect(entries.map((entry) => entry.approval_id).sort()).toEqual([...ids].sort());
    const { rows: jobs } = await sql<{ approval_id: string }>`select data->>'approvalId' as approval_id from pgboss.job where name = 'escalation-timer' and data->>'approvalId' = any(${ids})`.execute(server.services.db);
    expect(jobs.map((job) => job.approval_id).sort()).toEqual([...ids].sort());
    expect(await verifyAuditLog(await readAuditSnapshot(server.services.db))).toMatchObject({ ok: true });
  });
});

/** A second instance opens the first one's database instead of a fresh one. */
const sameDatabase = (target: DatabaseTarget): TestDatabase => ({ name: 'postgres', create: async () => ({ target, dispose: async () => undefined }) });

// The caches are per process: a change made through another instance must reach this one's next intake too.
describe.skipIf(!postgresUrl)('intake caches on two instances sharing one PostgreSQL database', () => {
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    const fresh = postgresDatabase(postgresUrl!);
    let target: DatabaseTarget | undefined;
    a = await startTestServer({ name: 'postgres', create: async () => { const created = await fresh.create(); target = created.target; return created; } });
    b = await startTestServer(sameDatabase(target!));
    await a.projects([{ key: 'ops', provider: 'local', reviewers: ['alice', 'bob'] }]);
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('refuses on instance A a key revoked through instance B, at its next intake', async () => {
    const agent = await a.key({ scopes: ['intake', 'read'] });
    expect((await a.fetch('/v1/approvals', { key: agent, json: request })).status).toBe(202);
    await revoke(b.services, agent);
    const before = await rowCounts(a.services);
    expect((await a.fetch('/v1/approvals', { key: agent, json: request })).status).toBe(401);
    expect(await rowCounts(a.services)).toEqual(before);
  });

  it('decides on instance A with the mapping applied through instance B', async () => {
    const agent = await a.key({ scopes: ['intake', 'read'] });
    expect(((await (await a.fetch('/v1/approvals', { key: agent, json: request })).json()) as Approval).requiredApprovals).toBe(1);
    await b.projects([{ key: 'ops', provider: 'local', reviewers: ['alice', 'bob'], requiredApprovals: 2 }]);
    expect(((await (await a.fetch('/v1/approvals', { key: agent, json: request })).json()) as Approval).requiredApprovals).toBe(2);
  });
});
