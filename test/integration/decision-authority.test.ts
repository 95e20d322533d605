import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

type ErrorBody = { error: { code: string; message: string } };
type AuditRecords = { records: Array<{ event: string; actor: { id: string }; data: Record<string, unknown> }> };

/**
 * Who may decide and withdraw, judged as things are at that moment: votes count against the
 * mapping as it is when the decision is made, identities compare in one normalised form, and
 * a key touches only what is its own (or everything of its projects when it is an admin key).
 */
describeEachDatabase('decision authority', (database) => {
  let server: TestServer;
  let agent: string;
  let auditor: string;
  const reviewerKeys = new Map<string, string>();

  const quorum = { key: 'quorum', provider: 'local', reviewers: ['alice', 'bob', 'carol'], requiredApprovals: 2 };

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([quorum, { key: 'solo', provider: 'local', reviewers: ['alice', 'bob'] }]);
    agent = await server.key({ scopes: ['intake', 'read'] });
    auditor = await server.key({ scopes: ['read'] });
    for (const name of ['alice', 'bob', 'carol']) reviewerKeys.set(name, await server.key({ scopes: ['review'], reviewer: name }));
  });
  afterAll(() => server?.close());

  const create = async (fields: Record<string, unknown>, key = agent) => {
    const response = await server.fetch('/v1/approvals', { key, json: { action: 'send_email', summary: 'Send it', ...fields } });
    expect(response.status).toBe(202);
    return (await response.json()) as ApprovalView;
  };
  const decide = async (id: string, reviewer: string | { key: string }) => {
    const key = typeof reviewer === 'string' ? reviewerKeys.get(reviewer)! : reviewer.key;
    const response = await server.fetch(`/v1/approvals/${id}/decision`, { key, json: { outcome: 'approve' } });
    return { status: response.status, body: (await response.json()) as ApprovalView & ErrorBody & { votes?: { approvals: number; required: number } } };
  };
  const audit = async (id: string) => ((await (await server.fetch(`/v1/audit?approvalId=${id}`, { key: auditor })).json()) as AuditRecords).records;

  describe('votes count against the mapping as it is when the decision is made', () => {
    it('2 of N: alice votes, is removed from the reviewers, bob votes: still pending, 1 of 2, and the record says why', async () => {
      const { id } = await create({ project: 'quorum' });
      expect((await decide(id, 'alice')).status).toBe(202);
      await server.projects([{ ...quorum, reviewers: ['bob', 'carol'] }, { key: 'solo', provider: 'local', reviewers: ['alice', 'bob'] }]);

      const bob = await decide(id, 'bob');
      expect(bob.status).toBe(202);
      expect(bob.body).toMatchObject({ status: 'pending', votes: { approvals: 1, required: 2 } });
      const counted = (await audit(id)).at(-1)!;
      expect(counted).toMatchObject({ event: 'decision.counted', actor: { id: 'bob' }, data: { approvals: 1, required: 2 } });
      expect(counted.data.notCounted).toEqual([{ reviewer: 'alice', reason: expect.stringContaining('alice is no longer a reviewer of project quorum') }]);

      // A reviewer who is one now completes it; alice's vote is not among those who decided.
      const carol = await decide(id, 'carol');
      expect(carol.status).toBe(200);
      expect(carol.body).toMatchObject({ status: 'approved', decision: { by: ['bob', 'carol'] } });
      const decided = (await audit(id)).at(-1)!;
      expect(decided).toMatchObject({ event: 'approval.decided', data: { notCounted: [{ reviewer: 'alice' }] } });
      await server.projects([quorum, { key: 'solo', provider: 'local', reviewers: ['alice', 'bob'] }]);
    });
  });

  describe('identities compare after NFKC, trimming and case folding', () => {
    it.each([
      ['fullwidth', 'ａｌｉｃｅ'],
      ['surrounded by spaces', '  alice '],
      ['in capitals', 'ALICE'],
      ['fullwidth capitals', 'ＡＬＩＣＥ'],
    ])('a request made as alice %s cannot be approved by alice', async (_, requestedBy) => {
      const { id } = await create({ project: 'solo', requestedBy });
      const own = await decide(id, 'alice');
      expect(own.status).toBe(403);
      expect(own.body.error.code).toBe('self_approval');
      expect((await decide(id, 'bob')).body.status).toBe('approved');
    });

    it('a reviewer key as ALICE is alice (no second vote toward the quorum); a fullwidth Ａｌｉｃｅ key is no reviewer at all', async () => {
      const { id } = await create({ project: 'quorum' });
      expect((await decide(id, 'alice')).status).toBe(202);
      const again = await decide(id, { key: await server.key({ scopes: ['review'], reviewer: 'Ａｌｉｃｅ' }) });
      expect(again.status).toBe(403);
      expect(again.body.error.code).toBe('not_a_reviewer');
      const shouting = await decide(id, { key: await server.key({ scopes: ['review'], reviewer: 'ALICE' }) });
      expect(shouting.status).toBe(409);
      expect(shouting.body.error.code).toBe('already_voted');
      expect((await server.fetch(`/v1/approvals/${id}`, { key: agent }).then((r) => r.json()) as ApprovalView).status).toBe('pending');
    });
  });

  describe('cancel: only the requesting key or an admin key; other projects answer as unknown ids', () => {
    let restricted: string;
    let unrestricted: string;
    let admin: string;
    let agentOfSolo: string;

    beforeAll(async () => {
      restricted = await server.key({ scopes: ['intake', 'read'], project: 'quorum' });
      unrestricted = await server.key({ scopes: ['intake', 'read'] });
      admin = await server.key({ scopes: ['intake', 'read', 'admin'] });
      agentOfSolo = await server.key({ scopes: ['intake', 'read'], project: 'solo' });
    });

    const cancel = async (id: string, key: string) => {
      const response = await server.fetch(`/v1/approvals/${id}/cancel`, { key, method: 'POST' });
      return { status: response.status, body: (await response.json()) as ApprovalView & ErrorBody };
    };
    const statusOf = async (id: string) => ((await (await server.fetch(`/v1/approvals/${id}`, { key: admin })).json()) as ApprovalView).status;

    it('a project-restricted key gets the same 404 for an id of another project as for an unknown id', async () => {
      const other = await create({ project: 'solo' }, agentOfSolo);
      const unknown = 'apr_01jzzzzzzzzzzzzzzzzzzzzzzz';
      const outside = await cancel(other.id, restricted);
      const missing = await cancel(unknown, restricted);
      expect(outside.status).toBe(404);
      expect(missing.status).toBe(404);
      expect(JSON.stringify(outside.body).replaceAll(other.id, 'ID')).toBe(JSON.stringify(missing.body).replaceAll(unknown, 'ID'));
      // Reading it, or its audit trail, tells no more.
      const read = await server.fetch(`/v1/approvals/${other.id}`, { key: restricted });
      const trail = await server.fetch(`/v1/audit?approvalId=${other.id}`, { key: restricted });
      expect([read.status, trail.status]).toEqual([404, 404]);
      expect(await statusOf(other.id)).toBe('pending');
    });

    it("a key without a project restriction cannot cancel another key's approval in any project without admin", async () => {
      const inQuorum = await create({ project: 'quorum' }, restricted);
      const inSolo = await create({ project: 'solo' }, agentOfSolo);
      for (const id of [inQuorum.id, inSolo.id]) {
        const refused = await cancel(id, unrestricted);
        expect(refused.status).toBe(403);
        expect(refused.body.error.message).toContain('requested by another API key');
        expect(await statusOf(id)).toBe('pending');
      }
      // A restricted key is no different inside its own project.
      const foreignInOwnProject = await create({ project: 'quorum' }, unrestricted);
      expect((await cancel(foreignInOwnProject.id, restricted)).status).toBe(403);
      expect(await statusOf(foreignInOwnProject.id)).toBe('pending');
    });

    it('the requesting key and an admin key may cancel', async () => {
      const own = await create({ project: 'quorum' }, restricted);
      expect((await cancel(own.id, restricted)).body.status).toBe('cancelled');
      const foreign = await create({ project: 'solo' }, agentOfSolo);
      expect((await cancel(foreign.id, admin)).body.status).toBe('cancelled');
    });
  });
});
