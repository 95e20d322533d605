import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runInServer } from '../../src/cli/main.ts';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { verifyCallback } from '../../src/client/index.ts';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { listGrants, revokeGrant } from '../../src/grants/grant-store.ts';
import { payloadHash } from '../../src/primitives/canonical-json.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../helpers/callback-receiver.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

type Body = ApprovalView & { error: { code: string; message: string }; votes?: { approvals: number; required: number } };

describeEachDatabase('approve with changes and standing grants', (database) => {
  let server: TestServer;
  let receiver: CallbackReceiver;
  let agent: { id: string; key: string; webhookSecret: string };
  let otherAgent: string;
  let keys: Record<'alice' | 'bob', string>;
  const refund = { to: 'ops@acme.example', amount: 80, currency: 'EUR' };

  beforeAll(async () => {
    server = await startTestServer(database);
    receiver = await startCallbackReceiver();
    const amountAtMost100 = { type: 'object', properties: { amount: { type: 'number', maximum: 100 } }, required: ['amount'] };
    await server.projects([
      { key: 'editable', provider: 'local', reviewers: ['alice', 'bob'], allowEdits: true, payloadSchema: amountAtMost100 },
      { key: 'quorum', provider: 'local', reviewers: ['alice', 'bob'], requiredApprovals: 2, allowEdits: true, grants: { maxHours: 24 } },
      { key: 'fixed', provider: 'local', reviewers: ['alice'] },
      { key: 'granting', provider: 'local', reviewers: ['alice', 'bob'], grants: { maxHours: 24 } },
    ]);
    agent = await createApiKey(server.services, { name: 'agent', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    otherAgent = await server.key({ scopes: ['intake', 'read'] });
    keys = { alice: await server.key({ scopes: ['review'], reviewer: 'alice' }), bob: await server.key({ scopes: ['review'], reviewer: 'bob' }) };
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  const request = async (project: string, fields: Record<string, unknown> = {}, key = agent.key) => {
    const response = await server.fetch('/v1/approvals', { key, json: { project, action: 'refund', summary: 'Refund the order', payload: refund, requestedBy: 'agent-7', ...fields } });
    return { status: response.status, body: (await response.json()) as Body };
  };
  const decide = async (id: string, reviewer: 'alice' | 'bob', json: Record<string, unknown>) => {
    const response = await server.fetch(`/v1/approvals/${id}/decision`, { key: keys[reviewer], json });
    return { status: response.status, body: (await response.json()) as Body };
  };
  const get = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agent.key })).json()) as Body;

  it('approves the edited payload: GET, the callback and the signed receipt carry it and both hashes', async () => {
    const created = await request('editable', { callbackUrl: receiver.url });
    expect(created.status).toBe(202);
    const edited = { ...refund, to: 'billing@acme.example', amount: 60 };
    const decided = await decide(created.body.id, 'alice', { outcome: 'approve', payload: edited });
    expect(decided.status).toBe(200);

    const view = await get(created.body.id);
    expect(view).toMatchObject({ status: 'approved', payload: edited, payloadHash: payloadHash(edited), originalPayloadHash: created.body.payloadHash });
    expect(view.decision?.originalPayloadHash).toBe(created.body.payloadHash);
    expect(view.decision?.patch).toEqual([
      { op: 'replace', path: '/amount', value: 60 },
      { op: 'replace', path: '/to', value: 'billing@acme.example' },
    ]);

    const callback = await until(
      () => receiver.received.find((c) => c.body.includes(created.body.id)),
      (found) => found !== undefined,
    );
    // The agent checks against the hash it was given at intake; the receipt covers both hashes.
    const event = verifyCallback(callback!.body, callback!.headers, agent.webhookSecret, { publicKey: server.services.signer.publicKeyPem, expectedPayloadHash: created.body.payloadHash });
    expect(event.data).toMatchObject({ payload: edited, payloadHash: payloadHash(edited), originalPayloadHash: created.body.payloadHash });
    // A payload swapped in transit no longer matches the signed hash.
    const swapped = callback!.body.replace('billing@acme.example', 'mallory@evil.example');
    expect(() => verifyCallback(swapped, callback!.headers, agent.webhookSecret)).toThrow();
  });

  it('refuses an edit the project does not allow, one that breaks the schema, and one on a rejection — nothing changes', async () => {
    const fixed = await request('fixed');
    const refused = await decide(fixed.body.id, 'alice', { outcome: 'approve', payload: { ...refund, amount: 1 } });
    expect(refused).toMatchObject({ status: 422, body: { error: { code: 'edit_refused' } } });
    expect(refused.body.error.message).toContain('allowEdits');

    const editable = await request('editable');
    const tooMuch = await decide(editable.body.id, 'alice', { outcome: 'approve', payload: { ...refund, amount: 250 } });
    expect(tooMuch).toMatchObject({ status: 422, body: { error: { code: 'edit_refused' } } });
    expect(tooMuch.body.error.message).toContain('/amount: must be <= 100');
    const onReject = await decide(editable.body.id, 'alice', { outcome: 'reject', payload: { ...refund, amount: 1 } });
    expect(onReject.status).toBe(422);

    for (const id of [fixed.body.id, editable.body.id]) expect(await get(id)).toMatchObject({ status: 'pending', payload: refund, payloadHash: payloadHash(refund) });
    expect((await get(editable.body.id)).originalPayloadHash).toBeUndefined();
  });

  it('holds intake to the payload schema too', async () => {
    expect(await request('editable', { payload: { ...refund, amount: 500 } })).toMatchObject({ status: 422, body: { error: { code: 'payload_schema_mismatch' } } });
    expect(await request('fixed', { payloadSchema: { type: 'no-such-type' } })).toMatchObject({ status: 422, body: { error: { code: 'invalid_payload_schema' } } });
    const own = await request('editable', { payload: { amount: 5 }, payloadSchema: { type: 'object', properties: { amount: { const: 5 } } } });
    expect(own.status).toBe(202);
    // The request's own schema wins over the mapping's: amount may not change at all here.
    expect(await decide(own.body.id, 'alice', { outcome: 'approve', payload: { amount: 6 } })).toMatchObject({ status: 422 });
  });

  it('an edit in an M-of-N takes back the approvals given before it: everyone approves the same bytes', async () => {
    const created = await request('quorum');
    expect(await decide(created.body.id, 'alice', { outcome: 'approve' })).toMatchObject({ status: 202, body: { votes: { approvals: 1, required: 2 } } });
    const edited = { ...refund, amount: 40 };
    // Bob's edit: his approval is the only one that counts now, for the new bytes.
    expect(await decide(created.body.id, 'bob', { outcome: 'approve', payload: edited })).toMatchObject({ status: 202, body: { votes: { approvals: 1, required: 2 } } });
    const final = await decide(created.body.id, 'alice', { outcome: 'approve' });
    expect(final).toMatchObject({ status: 200, body: { status: 'approved', payloadHash: payloadHash(edited), decision: { by: ['bob', 'alice'] } } });

    await server.services.audit.flush();
    const counted = await server.services.db.selectFrom('audit_records').select('data').where('approval_id', '=', created.body.id).where('event', '=', 'decision.counted').orderBy('seq').execute();
    expect(counted[1]!.data).toMatchObject({ edit: { resetVotes: ['alice'], payloadHash: payloadHash(edited), patch: [{ op: 'replace', path: '/amount', value: 40 }] } });
  });

  it('a grant approves later matching requests at intake, and nothing outside its scope or limits', async () => {
    const first = await request('granting');
    const granted = await decide(first.body.id, 'alice', { outcome: 'approve', grant: { hours: 2, limits: { amount: { max: 100 }, currency: { equals: 'EUR' } } } });
    expect(granted.status).toBe(200);
    const grantId = granted.body.decision!.grant!.id;
    expect(grantId).toMatch(/^grt_/);

    const covered = await request('granting', { payload: { ...refund, amount: 99 } });
    expect(covered).toMatchObject({ status: 202, body: { status: 'approved', decision: { by: [`grant:${grantId}`], grant: { id: grantId } } } });

    for (const [why, fields, key] of [
      ['over the limit', { payload: { ...refund, amount: 101 } }, agent.key],
      ['another currency', { payload: { ...refund, currency: 'USD' } }, agent.key],
      ['another action', { action: 'delete_account' }, agent.key],
      ['another requester', { requestedBy: 'agent-8' }, agent.key],
      ['no requester named', { requestedBy: undefined }, agent.key],
      ['high risk', { risk: 'high' }, agent.key],
      ['another agent key', {}, otherAgent],
    ] as const) {
      const outside = await request('granting', fields, key);
      expect(outside.body.status, why).toBe('pending');
    }

    // projects explain names the grant that would approve a sample request, and from which key.
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'explain-'));
    await fs.writeFile(path.join(dir, 'mapping.yaml'), 'projects:\n  - { key: granting, provider: local, reviewers: [alice, bob], grants: { maxHours: 24 } }\n');
    await fs.writeFile(path.join(dir, 'sample.json'), JSON.stringify({ project: 'granting', action: 'refund', summary: 'x', payload: { ...refund, amount: 20 }, requestedBy: 'agent-7' }));
    const explained = await runInServer({ argv: ['projects', 'explain', 'mapping.yaml', '--request', 'sample.json'], cwd: dir }, server.services);
    expect(explained.stdout).toContain(`from agent key ${agent.id}: approved at intake by standing grant ${grantId} (granted by alice`);
    await fs.writeFile(path.join(dir, 'sample.json'), JSON.stringify({ project: 'granting', action: 'refund', summary: 'x', payload: { ...refund, amount: 200 }, requestedBy: 'agent-7' }));
    expect((await runInServer({ argv: ['projects', 'explain', 'mapping.yaml', '--request', 'sample.json'], cwd: dir }, server.services)).stdout).not.toContain('standing grant');

    const [listed] = await listGrants(server.services.db, { project: 'granting', now: new Date() });
    expect(listed).toMatchObject({ id: grantId, action: 'refund', requestedBy: 'agent-7', grantedBy: 'alice', uses: 1, active: true });

    await revokeGrant(server.services, grantId, { kind: 'admin', id: 'operator', via: 'cli' }, new Date());
    expect((await request('granting', { payload: { ...refund, amount: 10 } })).body.status).toBe('pending');
    await expect(revokeGrant(server.services, grantId, { kind: 'admin', id: 'operator', via: 'cli' }, new Date())).rejects.toMatchObject({ code: 'already_revoked' });

    await server.services.audit.flush();
    const events = await server.services.db.selectFrom('audit_records').select('event').where('event', 'in', ['grant.created', 'grant.revoked']).execute();
    expect(events.map((e) => e.event).sort()).toEqual(['grant.created', 'grant.revoked']);
  });

  it('an expired grant approves nothing', async () => {
    const first = await request('granting', { action: 'short' });
    expect((await decide(first.body.id, 'bob', { outcome: 'approve', grant: { hours: 0.0003 } })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await request('granting', { action: 'short' })).body.status).toBe('pending');
  });

  it('refuses a grant on a high-risk request, an M-of-N, a project without grants, beyond maxHours, or breaking its own limits', async () => {
    const cases: Array<[string, string, Record<string, unknown>, Record<string, unknown>, string]> = [
      ['high risk', 'granting', { risk: 'high' }, { hours: 1 }, 'high-risk'],
      ['quorum', 'quorum', {}, { hours: 1 }, 'needs 2 approvals'],
      ['no policy', 'fixed', {}, { hours: 1 }, 'does not allow standing grants'],
      ['too long', 'granting', {}, { hours: 48 }, 'at most 24 hours'],
      ['own limits', 'granting', {}, { hours: 1, limits: { amount: { max: 10 } } }, 'outside the grant'],
    ];
    for (const [why, project, fields, grant, message] of cases) {
      const created = await request(project, fields);
      const refused = await decide(created.body.id, 'alice', { outcome: 'approve', grant });
      expect(refused, why).toMatchObject({ status: 422, body: { error: { code: 'grant_refused' } } });
      expect(refused.body.error.message, why).toContain(message);
      expect((await get(created.body.id)).status, why).toBe('pending');
    }
    expect(await decide((await request('granting')).body.id, 'alice', { outcome: 'approve', grant: { hours: 0 } })).toMatchObject({ status: 422, body: { error: { code: 'invalid_request' } } });
  });

  it('counts active grants and the approvals they made in the metrics', async () => {
    const created = await request('granting', { action: 'metered' });
    await decide(created.body.id, 'alice', { outcome: 'approve', grant: { hours: 1 } });
    await request('granting', { action: 'metered' });
    const metrics = await (await server.fetch('/metrics')).text();
    expect(metrics).toMatch(/countersign_grants_active\{project="granting"\} 1/);
    expect(metrics).toMatch(/countersign_grant_approvals\{project="granting"\} [2-9]/);
  });
});
