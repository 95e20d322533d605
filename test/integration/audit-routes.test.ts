import { createPublicKey, verify } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readAuditSnapshot } from '../../src/audit/read-audit-snapshot.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import { runAuditCli } from '../helpers/audit-fixtures.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

interface Record {
  seq: number;
  event: string;
  approvalId: string | null;
  actor: { kind: string; id: string; via: string };
  data: { [key: string]: unknown };
  hash: string;
  signature: string;
  keyId: string;
}

describeEachDatabase('audit records of the approval lifecycle', (database) => {
  let server: TestServer;
  let agentKey: string;
  let aliceKey: string;
  let malloryKey: string;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'] }]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
    aliceKey = await server.key({ scopes: ['review'], reviewer: 'alice' });
    malloryKey = await server.key({ scopes: ['review'], reviewer: 'mallory' });
  });
  afterAll(() => server?.close());

  const recordsOf = async (approvalId: string) => ((await (await server.fetch(`/v1/audit?approvalId=${approvalId}`, { key: agentKey })).json()) as { records: Record[] }).records;

  it('records request, ticket, refused attempt, decision and late attempt, each signed by the served key', async () => {
    const intake = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'billing-bot', action: 'send_email', summary: 'Send it', requestedBy: 'agent-7' } });
    const { id } = (await intake.json()) as { id: string };
    expect((await server.fetch(`/v1/approvals/${id}/decision`, { key: malloryKey, json: { outcome: 'approve' } })).status).toBe(403);
    expect((await server.fetch(`/v1/approvals/${id}/decision`, { key: aliceKey, json: { outcome: 'reject', reason: 'no' } })).status).toBe(200);
    expect((await server.fetch(`/v1/approvals/${id}/decision`, { key: aliceKey, json: { outcome: 'approve' } })).status).toBe(409);

    const records = await recordsOf(id);
    // On `local` the approval is its own ticket, recorded with the request.
    expect(records.map((r) => r.event)).toEqual(['approval.requested', 'decision.refused', 'approval.decided', 'decision.late']);
    expect(records[0]).toMatchObject({ actor: { kind: 'agent', via: 'api' }, data: { project: 'billing-bot', action: 'send_email', requestedBy: 'agent-7', ticket: { provider: 'local', key: id } } });
    expect(records[1]).toMatchObject({ actor: { kind: 'reviewer', id: 'mallory', via: 'api' }, data: { code: 'not_a_reviewer' } });
    expect(records[2]).toMatchObject({ actor: { kind: 'reviewer', id: 'alice', via: 'api' }, data: { status: 'rejected', reason: 'no' } });

    const served = (await (await server.fetch('/v1/audit/public-key')).json()) as { keyId: string; algorithm: string; publicKey: string; keys: unknown[] };
    expect(served).toMatchObject({ algorithm: 'Ed25519', keyId: server.services.signer.keyId, keys: [{ keyId: server.services.signer.keyId }] });
    const publicKey = createPublicKey(served.publicKey);
    for (const record of records) {
      expect(record.keyId).toBe(served.keyId);
      expect(verify(null, Buffer.from(record.hash, 'hex'), publicKey, Buffer.from(record.signature, 'base64'))).toBe(true);
    }
  });

  it('records cancellation, key and mapping changes, and the whole log verifies', async () => {
    const { id } = (await (await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'billing-bot', action: 'a', summary: 's' } })).json()) as { id: string };
    expect((await server.fetch(`/v1/approvals/${id}/cancel`, { key: agentKey, method: 'POST' })).status).toBe(200);
    expect((await recordsOf(id)).map((r) => r.event)).toContain('approval.cancelled');

    const adminKey = await server.key({ scopes: ['admin'] });
    expect((await server.fetch('/v1/admin/projects/ops', { key: adminKey, method: 'PUT', json: { provider: 'local', reviewers: ['carol'] } })).status).toBe(201);
    await server.services.audit.flush();
    const admin = await server.services.db.selectFrom('audit_records').selectAll().where('event', 'in', ['api_key.created', 'project.changed']).orderBy('seq').execute();
    expect(admin.map((r) => r.event)).toEqual(['project.changed', 'api_key.created', 'api_key.created', 'api_key.created', 'api_key.created', 'project.changed']);
    expect(admin.at(-1)).toMatchObject({ actor: { kind: 'admin', via: 'api' }, data: { key: 'ops', change: 'created' } });
    // The key's secrets never reach the log.
    expect(JSON.stringify(admin)).not.toMatch(/csk_|whsec_/);

    expect(await verifyAuditLog(await readAuditSnapshot(server.services.db))).toMatchObject({ ok: true, firstSeq: 1 });
  });

  it('needs the read scope and the approval\'s project for GET /v1/audit', async () => {
    const reviewOnly = await server.key({ scopes: ['review'], reviewer: 'bob' });
    expect((await server.fetch('/v1/audit?approvalId=apr_x', { key: reviewOnly })).status).toBe(403);
    expect((await server.fetch('/v1/audit?approvalId=apr_missing', { key: agentKey })).status).toBe(404);
    expect((await server.fetch('/v1/audit', { key: agentKey })).status).toBe(400);
    expect((await server.fetch('/v1/audit?approvalId=apr_x')).status).toBe(401);
  });

  it('GET /v1/audit/checkpoint serves the latest signed checkpoint as text, which verify --checkpoint accepts', async () => {
    const first = await server.services.audit.checkpoint();
    const served = await server.fetch('/v1/audit/checkpoint');
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toMatch(/^text\/plain/);
    const note = await served.text();
    // undefined when a checkpoint the server signed on its own already covered everything.
    const latest = first?.note ?? (await server.services.db.selectFrom('audit_checkpoints').select('note').orderBy('tree_size', 'desc').limit(1).executeTakeFirstOrThrow()).note;
    expect(note).toBe(latest);
    expect(note).toMatch(/^countersign\/[0-9a-f]{16}\n[1-9][0-9]*\n[A-Za-z0-9+/]{43}=\n\n\u2014 countersign\/[0-9a-f]{16} [A-Za-z0-9+/=]+\n$/);

    // The auditor keeps it; later records extend it; verify says so.
    await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'billing-bot', action: 'later', summary: 's' } });
    await server.services.audit.flush();
    await server.services.audit.checkpoint();
    expect(await (await server.fetch('/v1/audit/checkpoint')).text()).not.toBe(note);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-kept-'));
    try {
      await fs.writeFile(path.join(dir, 'kept.txt'), note);
      const verified = await runAuditCli(['audit', 'verify', '--checkpoint', 'kept.txt', '--json'], server.services, dir);
      expect(verified.exitCode).toBe(0);
      expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, keptCheckpoint: { treeSize: Number(note.split('\n')[1]) } });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
