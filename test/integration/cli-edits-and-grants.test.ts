import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { runInServer } from '../../src/cli/main.ts';
import { payloadHash } from '../../src/primitives/canonical-json.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const refund = { to: 'ops@acme.example', amount: 80 };

/** The operator's channel: `countersign decide … --payload FILE` and `--grant HOURS`, then `grants revoke`. */
describeEachDatabase('approve with changes and standing grants from the CLI', (database) => {
  let server: TestServer;
  let agentKey: string;
  let dir: string;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([
      { key: 'editable', provider: 'local', reviewers: ['alice'], allowEdits: true, payloadSchema: { type: 'object', properties: { amount: { type: 'number', maximum: 100 } } } },
      { key: 'granting', provider: 'local', reviewers: ['alice'], grants: { maxHours: 24 } },
    ]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cli-edits-'));
  });
  afterAll(async () => {
    await server?.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  const cli = (...argv: string[]) => runInServer({ argv, cwd: dir }, server.services);
  const request = async (project: string, payload: unknown = refund) => {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project, action: 'refund', summary: 'Refund the order', payload, requestedBy: 'agent-7' } });
    return (await response.json()) as ApprovalView;
  };
  const get = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;

  it('decide --payload approves the edited payload, with its patch and both hashes; one breaking the schema is refused and changes nothing', async () => {
    const created = await request('editable');
    const edited = { ...refund, amount: 60 };
    await fs.writeFile(path.join(dir, 'edited.json'), JSON.stringify(edited));
    const decided = await cli('decide', created.id, 'approve', '--as', 'alice', '--payload', 'edited.json', '--json');
    expect(decided.exitCode, decided.stderr).toBe(0);
    expect(await get(created.id)).toMatchObject({
      status: 'approved',
      payload: edited,
      payloadHash: payloadHash(edited),
      originalPayloadHash: payloadHash(refund),
      decision: { by: ['alice'], originalPayloadHash: payloadHash(refund), patch: [{ op: 'replace', path: '/amount', value: 60 }] },
    });

    const other = await request('editable');
    await fs.writeFile(path.join(dir, 'too-much.json'), JSON.stringify({ ...refund, amount: 500 }));
    const refused = await cli('decide', other.id, 'approve', '--as', 'alice', '--payload', 'too-much.json');
    expect(refused.exitCode).not.toBe(0);
    expect(refused.stderr).toContain('/amount: must be <= 100');
    expect(await get(other.id)).toMatchObject({ status: 'pending', payloadHash: payloadHash(refund) });
  });

  it('decide --grant approves and grants; the grant approves the next matching request, not an over-limit one, and grants revoke ends it', async () => {
    const first = await request('granting');
    const granted = await cli('decide', first.id, 'approve', '--as', 'alice', '--grant', '8', '--grant-limits', '{"amount":{"max":100}}', '--json');
    expect(granted.exitCode, granted.stderr).toBe(0);
    const grantId = (await get(first.id)).decision!.grant!.id;
    expect(grantId).toMatch(/^grt_/);

    expect(await request('granting', { ...refund, amount: 99 })).toMatchObject({ status: 'approved', decision: { by: [`grant:${grantId}`] } });
    expect((await request('granting', { ...refund, amount: 101 })).status).toBe('pending');

    const revoked = await cli('grants', 'revoke', grantId);
    expect(revoked.exitCode, revoked.stderr).toBe(0);
    expect((await request('granting', { ...refund, amount: 10 })).status).toBe('pending');
    expect((await cli('grants', 'revoke', grantId)).exitCode).not.toBe(0);
  });
});
