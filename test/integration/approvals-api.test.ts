import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { standInGitHub } from '../helpers/stand-in-provider.ts';

interface Approval {
  id: string;
  status: string;
  project: string;
  decision: { outcome: string; by: string[]; reason: string | null; at: string } | null;
  votes?: { approvals: number; required: number };
}
interface ErrorBody {
  error: { code: string; message: string };
}
interface Page {
  items: Approval[];
  nextCursor: string | null;
}


describeEachDatabase('approvals API', (database) => {
  let server: TestServer;
  let agent: string;
  let keys: Record<'alice' | 'bob' | 'mallory' | 'otherAgent' | 'otherAlice', string>;

  beforeAll(async () => {
    server = await startTestServer(database, { extraProviders: [standInGitHub] });
    await server.projects([
      { key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'] },
      { key: 'two-man', provider: 'local', reviewers: ['alice', 'bob'], requiredApprovals: 2 },
      { key: 'other-bot', provider: 'local', reviewers: ['alice'] },
      { key: 'list-a', provider: 'local', reviewers: ['alice'] },
      { key: 'list-b', provider: 'local', reviewers: ['alice'] },
      { key: 'gh-bot', provider: 'github', github: { owner: 'acme', repo: 'approvals' }, reviewers: ['alice'] },
    ]);
    agent = await server.key({ scopes: ['intake', 'read'] });
    keys = {
      alice: await server.key({ scopes: ['review'], reviewer: 'alice' }),
      bob: await server.key({ scopes: ['review'], reviewer: 'bob' }),
      mallory: await server.key({ scopes: ['review'], reviewer: 'mallory' }),
      otherAgent: await server.key({ scopes: ['intake', 'read'], project: 'other-bot' }),
      otherAlice: await server.key({ scopes: ['review'], reviewer: 'alice', project: 'other-bot' }),
    };
  });
  afterAll(() => server?.close());

  const create = async (fields: Record<string, unknown> = {}, key = agent): Promise<Approval> => {
    const response = await server.fetch('/v1/approvals', { key, json: { project: 'billing-bot', action: 'send_email', summary: 'Send it', ...fields } });
    expect(response.status).toBe(202);
    return (await response.json()) as Approval;
  };
  const get = async (id: string, key = agent, query = '') => {
    const response = await server.fetch(`/v1/approvals/${id}${query}`, { key });
    return { status: response.status, body: (await response.json()) as Approval & ErrorBody };
  };
  const decide = async (id: string, key: string, json: unknown) => {
    const response = await server.fetch(`/v1/approvals/${id}/decision`, { key, json });
    return { status: response.status, body: (await response.json()) as Approval & ErrorBody };
  };
  const cancel = async (id: string, key = agent) => {
    const response = await server.fetch(`/v1/approvals/${id}/cancel`, { key, method: 'POST' });
    return { status: response.status, body: (await response.json()) as Approval & ErrorBody };
  };
  const statusOf = async (id: string) => (await get(id)).body.status;

  describe('GET /v1/approvals/{id}', () => {
    it('returns the approval', async () => {
      const created = await create({ risk: 'high', labels: ['urgent'], requestedBy: 'agent-7' });
      const { status, body } = await get(created.id);
      expect(status).toBe(200);
      expect(body).toMatchObject({ id: created.id, status: 'pending', project: 'billing-bot', risk: 'high', labels: ['urgent'], requestedBy: 'agent-7', decision: null, escalationTier: 0, batchId: null });
    });

    it('answers 404 for an unknown id', async () => {
      const { status, body } = await get('apr_01h00000000000000000000000');
      expect(status).toBe(404);
      expect(body.error.code).toBe('not_found');
    });

    it("answers 404 to a key of another project, as if the id did not exist", async () => {
      const created = await create();
      const { status, body } = await get(created.id, keys.otherAgent);
      expect(status).toBe(404);
      expect(body.error.code).toBe('not_found');
    });

    it('refuses a key without the read scope with 403', async () => {
      const created = await create();
      expect((await get(created.id, keys.alice)).status).toBe(403);
    });
  });

  describe('GET /v1/approvals (list)', () => {
    let inA: string[];
    let inB: string[];
    let cancelledInA: string[];

    beforeAll(async () => {
      inA = [];
      for (let i = 0; i < 7; i++) inA.push((await create({ project: 'list-a', summary: `a${i}` })).id);
      inB = [(await create({ project: 'list-b' })).id, (await create({ project: 'list-b' })).id];
      await create({ project: 'other-bot' }, keys.otherAgent);
      cancelledInA = [inA[1]!, inA[4]!];
      for (const id of cancelledInA) expect((await cancel(id)).status).toBe(200);
    });

    const list = async (query: string, key = agent) => {
      const response = await server.fetch(`/v1/approvals?${query}`, { key });
      return { status: response.status, body: (await response.json()) as Page & ErrorBody };
    };
    const walk = async (query: string) => {
      const pages: string[][] = [];
      let cursor: string | null = null;
      do {
        const { status, body } = await list(`${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(status).toBe(200);
        pages.push(body.items.map((a) => a.id));
        cursor = body.nextCursor;
      } while (cursor && pages.length < 20);
      return pages;
    };

    it('pages through a project newest first with no duplicates or gaps', async () => {
      const pages = await walk('project=list-a&limit=3');
      expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
      expect(pages.flat()).toEqual([...inA].reverse());
    });

    it('filters by status', async () => {
      const pending = (await walk('project=list-a&status=pending&limit=2')).flat();
      expect(pending).toEqual(inA.filter((id) => !cancelledInA.includes(id)).reverse());
      const { body } = await list('project=list-a&status=cancelled');
      expect(body.items.map((a) => a.id)).toEqual([...cancelledInA].reverse());
      expect(body.items.every((a) => a.status === 'cancelled')).toBe(true);
      expect(body.nextCursor).toBeNull();
    });

    it('keeps its place when approvals arrive between pages', async () => {
      const first = await list('project=list-b&limit=1');
      expect(first.body.items.map((a) => a.id)).toEqual([inB[1]]);
      const newer = await create({ project: 'list-b' });
      const second = await list(`project=list-b&limit=1&cursor=${first.body.nextCursor}`);
      expect(second.body.items.map((a) => a.id)).toEqual([inB[0]]);
      expect(second.body.nextCursor).toBeNull();
      expect((await list('project=list-b&limit=1')).body.items[0]!.id).toBe(newer.id);
    });

    it('shows a project-restricted key only its project, and refuses it another', async () => {
      const { body } = await list('limit=200', keys.otherAgent);
      expect(body.items.length).toBeGreaterThan(0);
      expect(body.items.every((a) => a.project === 'other-bot')).toBe(true);
      expect((await list('project=list-a', keys.otherAgent)).status).toBe(403);
    });

    it.each([
      ['status=maybe', 'invalid_status'],
      ['limit=0', 'invalid_limit'],
      ['limit=abc', 'invalid_limit'],
      ['cursor=not-a-cursor', 'invalid_cursor'],
    ])('refuses %s with 400', async (query, code) => {
      const { status, body } = await list(query);
      expect(status).toBe(400);
      expect(body.error.code).toBe(code);
    });
  });

  describe('cancel', () => {
    it('moves a pending approval to cancelled; a second cancel is a 409', async () => {
      const created = await create();
      const first = await cancel(created.id);
      expect(first.status).toBe(200);
      expect(first.body.status).toBe('cancelled');
      expect(await statusOf(created.id)).toBe('cancelled');
      const second = await cancel(created.id);
      expect(second.status).toBe(409);
      expect(second.body.error.code).toBe('not_pending');
    });

    it('wakes a long poll', async () => {
      const created = await create();
      const poll = get(created.id, agent, '?wait=30');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await cancel(created.id)).status).toBe(200);
      const { status, body } = await poll;
      expect(status).toBe(200);
      expect(body.status).toBe('cancelled');
    });

    it('is refused to a key without intake, and unknown (404) to a key of another project, leaving it pending', async () => {
      const created = await create();
      expect((await cancel(created.id, keys.alice)).status).toBe(403);
      expect((await cancel(created.id, keys.otherAgent)).status).toBe(404);
      expect(await statusOf(created.id)).toBe('pending');
    });

    it('cannot cancel a decided approval', async () => {
      const created = await create();
      expect((await decide(created.id, keys.alice, { outcome: 'approve' })).status).toBe(200);
      expect((await cancel(created.id)).status).toBe(409);
      expect(await statusOf(created.id)).toBe('approved');
    });
  });

  describe('long poll', () => {
    it('answers with the pending approval when the wait is over and nothing happened', async () => {
      const created = await create();
      const { status, body } = await get(created.id, agent, '?wait=1');
      expect(status).toBe(200);
      expect(body).toMatchObject({ id: created.id, status: 'pending' });
    });

    it('answers at once when the approval is already decided', async () => {
      const created = await create();
      await decide(created.id, keys.bob, { outcome: 'reject', reason: 'no' });
      const { body } = await get(created.id, agent, '?wait=60');
      expect(body.status).toBe('rejected');
    });

    it.each(['61', '-1', 'soon'])('refuses wait=%s with 400', async (wait) => {
      const created = await create();
      const { status, body } = await get(created.id, agent, `?wait=${wait}`);
      expect(status).toBe(400);
      expect(body.error.code).toBe('invalid_wait');
    });

    it('answers 404 at once for an unknown id or another project', async () => {
      expect((await get('apr_01h00000000000000000000000', agent, '?wait=30')).status).toBe(404);
      const created = await create();
      expect((await get(created.id, keys.otherAgent, '?wait=30')).status).toBe(404);
    });
  });

  describe('POST /v1/approvals/{id}/decision', () => {
    it('refuses a reviewer who is not on the project with 403 and leaves it pending', async () => {
      const created = await create();
      const { status, body } = await decide(created.id, keys.mallory, { outcome: 'approve' });
      expect(status).toBe(403);
      expect(body.error.code).toBe('not_a_reviewer');
      expect(body.error.message).toContain('mallory');
      expect(await statusOf(created.id)).toBe('pending');
    });

    it('refuses the requester with 403, and another reviewer can still decide', async () => {
      const created = await create({ requestedBy: 'alice' });
      const { status, body } = await decide(created.id, keys.alice, { outcome: 'approve' });
      expect(status).toBe(403);
      expect(body.error.code).toBe('self_approval');
      expect(body.error.message).toMatch(/requested/);
      expect(await statusOf(created.id)).toBe('pending');
      expect((await decide(created.id, keys.bob, { outcome: 'approve' })).body.status).toBe('approved');
    });

    it('compares reviewer identities without case: the requester as Alice cannot approve as alice, nor vote twice as ALICE', async () => {
      const ownRequest = await create({ requestedBy: 'Alice' });
      const own = await decide(ownRequest.id, keys.alice, { outcome: 'approve' });
      expect(own.status).toBe(403);
      expect(own.body.error.code).toBe('self_approval');

      const shouting = await server.key({ scopes: ['review'], reviewer: 'ALICE' });
      const quorum = await create({ project: 'two-man' });
      expect((await decide(quorum.id, keys.alice, { outcome: 'approve' })).status).toBe(202);
      const again = await decide(quorum.id, shouting, { outcome: 'approve' });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('already_voted');
      expect(await statusOf(quorum.id)).toBe('pending');
    });

    it('needs two distinct reviewers when requiredApprovals is 2', async () => {
      const created = await create({ project: 'two-man' });
      const first = await decide(created.id, keys.alice, { outcome: 'approve' });
      expect(first.status).toBe(202);
      expect(first.body).toMatchObject({ status: 'pending', votes: { approvals: 1, required: 2 } });

      const again = await decide(created.id, keys.alice, { outcome: 'approve' });
      expect(again.status).toBe(409);
      expect(again.body.error.code).toBe('already_voted');
      expect(await statusOf(created.id)).toBe('pending');

      const second = await decide(created.id, keys.bob, { outcome: 'approve', reason: 'both agree' });
      expect(second.status).toBe(200);
      expect(second.body.status).toBe('approved');
      expect([...second.body.decision!.by].sort()).toEqual(['alice', 'bob']);
      expect(second.body.decision!.reason).toBe('both agree');
    });

    it('ends it with one reject, even when two approvals are required', async () => {
      const created = await create({ project: 'two-man' });
      await decide(created.id, keys.alice, { outcome: 'approve' });
      const { status, body } = await decide(created.id, keys.bob, { outcome: 'reject', reason: 'too risky' });
      expect(status).toBe(200);
      expect(body).toMatchObject({ status: 'rejected', decision: { outcome: 'rejected', by: ['bob'], reason: 'too risky' } });
    });

    it('answers a decision after the decision with 409 and keeps the first', async () => {
      const created = await create();
      expect((await decide(created.id, keys.alice, { outcome: 'approve' })).status).toBe(200);
      const late = await decide(created.id, keys.bob, { outcome: 'reject' });
      expect(late.status).toBe(409);
      expect(late.body.error.code).toBe('already_decided');
      const { body } = await get(created.id);
      expect(body).toMatchObject({ status: 'approved', decision: { outcome: 'approved', by: ['alice'] } });
    });

    it('refuses a key without the review scope with 403', async () => {
      const created = await create();
      expect((await decide(created.id, agent, { outcome: 'approve' })).status).toBe(403);
      expect(await statusOf(created.id)).toBe('pending');
    });

    it("answers 404 to a review key of another project", async () => {
      const created = await create();
      expect((await decide(created.id, keys.otherAlice, { outcome: 'approve' })).status).toBe(404);
      expect(await statusOf(created.id)).toBe('pending');
    });

    it.each([
      [{ outcome: 'maybe' }, 'outcome'],
      [{ outcome: 'approve', because: 'x' }, 'because'],
      [{}, 'outcome'],
    ])('refuses the body %o with 422 naming the field', async (json, field) => {
      const created = await create();
      const { status, body } = await decide(created.id, keys.alice, json);
      expect(status).toBe(422);
      expect(body.error.message).toContain(field);
      expect(await statusOf(created.id)).toBe('pending');
    });

    it('answers 404 for an unknown approval', async () => {
      expect((await decide('apr_01h00000000000000000000000', keys.alice, { outcome: 'approve' })).status).toBe(404);
    });

    it('refuses a decision on an approval whose ticket lives at another provider with 409', async () => {
      const created = await create({ project: 'gh-bot' });
      const { status, body } = await decide(created.id, keys.alice, { outcome: 'approve' });
      expect(status).toBe(409);
      expect(body.error.code).toBe('wrong_provider');
      expect(await statusOf(created.id)).toBe('pending');
    });
  });
});
