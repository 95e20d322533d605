import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeApiKey } from '../../src/keys/api-keys.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { rowCounts } from '../helpers/row-counts.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

interface ErrorBody {
  error: { code: string; message: string };
}

const valid = { project: 'billing-bot', action: 'send_email', summary: 'Send the reply', payload: { to: 'ops@acme.example' } };

describeEachDatabase('intake: bad input is refused and nothing is written', (database) => {
  let server: TestServer;
  let agentKey: string;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([
      { key: 'billing-bot', provider: 'local', reviewers: ['alice'] },
      { key: 'other-bot', provider: 'local', reviewers: ['alice'] },
    ]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(() => server?.close());

  /** Sends a request and checks the contract's error shape, and that no row or job appeared. */
  const refused = async (send: () => Promise<Response>, status: number, code?: string): Promise<ErrorBody> => {
    const before = await rowCounts(server.services);
    const response = await send();
    const body = (await response.json()) as ErrorBody;
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error.code).toMatch(/^[a-z]+(_[a-z]+)*$/);
    expect(body.error.message).toEqual(expect.any(String));
    expect(body.error.message.length).toBeGreaterThan(0);
    if (code) expect(body.error.code).toBe(code);
    expect(await rowCounts(server.services)).toEqual(before);
    return body;
  };

  const post = (body: string, key: string | null = agentKey, headers: Record<string, string> = {}) =>
    server.fetch('/v1/approvals', { method: 'POST', ...(key ? { key } : {}), body, headers: { 'content-type': 'application/json', ...headers } });

  it('accepts the valid request these cases are variations of', async () => {
    const before = await rowCounts(server.services);
    const response = await post(JSON.stringify(valid));
    expect(response.status).toBe(202);
    const after = await rowCounts(server.services);
    expect(after.approvals).toBe(before.approvals + 1);
  });

  it('answers malformed JSON with 400', async () => {
    const body = await refused(() => post('{"project": "billing-bot",'), 400, 'invalid_json');
    expect(body.error.message).toMatch(/not valid JSON/);
  });

  it('answers an empty body with 400', async () => {
    await refused(() => post(''), 400, 'invalid_json');
  });

  it.each([
    ['a JSON array', '[1,2]'],
    ['a JSON string', '"hello"'],
    ['null', 'null'],
  ])('refuses %s as the body with 422', async (_, text) => {
    await refused(() => post(text), 422, 'invalid_request');
  });

  it('refuses an unknown field with 422 naming it', async () => {
    const body = await refused(() => post(JSON.stringify({ ...valid, callbackURL: 'http://127.0.0.1:9000/hook' })), 422, 'invalid_request');
    expect(body.error.message).toContain('callbackURL');
  });

  it.each([
    ['project', { action: 'a', summary: 's' }],
    ['risk', { ...valid, risk: 'extreme' }],
    ['callbackUrl', { ...valid, callbackUrl: 'ftp://example.com/x' }],
    ['labels', { ...valid, labels: 'urgent' }],
  ])('refuses a missing or invalid %s with 422 naming the field', async (field, request) => {
    const body = await refused(() => post(JSON.stringify(request)), 422, 'invalid_request');
    expect(body.error.message).toContain(field);
  });

  it('refuses a body over 256 KiB with 413', async () => {
    const big = JSON.stringify({ ...valid, details: 'x'.repeat(300 * 1024) });
    await refused(() => post(big), 413, 'body_too_large');
  });

  it('refuses a chunked body over 256 KiB with 413 too (no Content-Length to trust)', async () => {
    const before = await rowCounts(server.services);
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${server.url}/v1/approvals`, { method: 'POST', headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      });
      req.on('error', reject);
      req.write(`{"project":"billing-bot","action":"a","summary":"s","details":"`);
      for (let i = 0; i < 20; i++) req.write('y'.repeat(16 * 1024));
      req.end('"}');
    });
    expect(status).toBe(413);
    expect((JSON.parse(body) as ErrorBody).error.code).toBe('body_too_large');
    expect(await rowCounts(server.services)).toEqual(before);
  });

  it('refuses an unknown project with 422', async () => {
    const body = await refused(() => post(JSON.stringify({ ...valid, project: 'nobody' })), 422, 'unknown_project');
    expect(body.error.message).toContain('nobody');
  });

  it('refuses a key without the intake scope with 403', async () => {
    const readOnly = await server.key({ scopes: ['read'] });
    const body = await refused(() => post(JSON.stringify(valid), readOnly), 403, 'forbidden');
    expect(body.error.message).toContain('intake');
  });

  it("refuses another project's key with 403", async () => {
    const otherKey = await server.key({ scopes: ['intake', 'read'], project: 'other-bot' });
    const body = await refused(() => post(JSON.stringify(valid), otherKey), 403, 'forbidden');
    expect(body.error.message).toContain('other-bot');
  });

  it('refuses a request without a key with 401', async () => {
    await refused(() => post(JSON.stringify(valid), null), 401, 'unauthorized');
    await refused(() => post(JSON.stringify(valid), null, { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }), 401, 'unauthorized');
  });

  it('refuses an unknown key with 401', async () => {
    await refused(() => post(JSON.stringify(valid), 'csk_not-a-real-key'), 401, 'unauthorized');
  });

  it('refuses a revoked key with 401', async () => {
    const key = await server.key({ scopes: ['intake', 'read'] });
    expect((await post(JSON.stringify(valid), key)).status).toBe(202);
    const { id } = await server.services.db.selectFrom('api_keys').select('id').orderBy('created_at', 'desc').executeTakeFirstOrThrow();
    await revokeApiKey(server.services, id);
    await refused(() => post(JSON.stringify(valid), key), 401, 'unauthorized');
  });

  it.each([
    ['at the top', '{"n": 9007199254740993}', 'payload.n'],
    ['in an array', '{"list": [1, 2, 12345678901234567890]}', 'payload.list[2]'],
    ['negative', '{"deep": {"n": -9007199254740993}}', 'payload.deep.n'],
  ])('refuses an integer beyond 2^53 in the payload (%s) with 422 naming its path', async (_, payload, where) => {
    const text = `{"project":"billing-bot","action":"a","summary":"s","payload":${payload}}`;
    const body = await refused(() => post(text), 422, 'invalid_request');
    expect(body.error.message).toContain(where);
  });

  it('accepts the largest exact integer and fractions', async () => {
    const response = await post('{"project":"billing-bot","action":"a","summary":"s","payload":{"n":9007199254740991,"f":0.1}}');
    expect(response.status).toBe(202);
  });

  describe('Idempotency-Key', () => {
    it('answers the same key and body with the first approval, writing one row', async () => {
      const before = await rowCounts(server.services);
      const first = await post(JSON.stringify(valid), agentKey, { 'idempotency-key': 'same-1' });
      const second = await post(JSON.stringify(valid), agentKey, { 'idempotency-key': 'same-1' });
      expect(first.status).toBe(202);
      expect(second.status).toBe(202);
      const a = (await first.json()) as { id: string; payloadHash: string; createdAt: string };
      const b = (await second.json()) as { id: string; payloadHash: string; createdAt: string };
      expect(b).toMatchObject({ id: a.id, payloadHash: a.payloadHash, createdAt: a.createdAt });
      expect(second.headers.get('location')).toBe(`/v1/approvals/${a.id}`);
      const after = await rowCounts(server.services);
      expect(after.approvals).toBe(before.approvals + 1);
      expect(after.idempotencyKeys).toBe(before.idempotencyKeys + 1);
    });

    it('treats the same body with its keys in another order as the same request', async () => {
      const first = (await (await post(JSON.stringify(valid), agentKey, { 'idempotency-key': 'order-1' })).json()) as { id: string };
      const reordered = JSON.stringify({ payload: valid.payload, summary: valid.summary, action: valid.action, project: valid.project });
      const second = await post(reordered, agentKey, { 'idempotency-key': 'order-1' });
      expect(second.status).toBe(202);
      expect(((await second.json()) as { id: string }).id).toBe(first.id);
    });

    it('refuses the same key with another body with 422 and writes nothing', async () => {
      expect((await post(JSON.stringify(valid), agentKey, { 'idempotency-key': 'same-2' })).status).toBe(202);
      const body = await refused(() => post(JSON.stringify({ ...valid, summary: 'Something else' }), agentKey, { 'idempotency-key': 'same-2' }), 422);
      expect(body.error.message).toMatch(/Idempotency-Key/);
    });

    it('refuses a key longer than 255 characters with 400', async () => {
      await refused(() => post(JSON.stringify(valid), agentKey, { 'idempotency-key': 'k'.repeat(256) }), 400, 'invalid_idempotency_key');
    });

    it('keeps keys apart per API key', async () => {
      const otherAgent = await server.key({ scopes: ['intake', 'read'] });
      const a = (await (await post(JSON.stringify(valid), agentKey, { 'idempotency-key': 'shared-name' })).json()) as { id: string };
      const b = (await (await post(JSON.stringify(valid), otherAgent, { 'idempotency-key': 'shared-name' })).json()) as { id: string };
      expect(b.id).not.toBe(a.id);
    });

    it('gives concurrent requests with one key one approval', async () => {
      const before = await rowCounts(server.services);
      const responses = await Promise.all(Array.from({ length: 8 }, () => post(JSON.stringify(valid), agentKey, { 'idempotency-key': 'race-1' })));
      const bodies = (await Promise.all(responses.map((r) => r.json()))) as Array<{ id?: string }>;
      expect(responses.map((r) => r.status)).toEqual(responses.map(() => 202));
      const ids = new Set(bodies.map((b) => b.id));
      expect(ids.size).toBe(1);
      const after = await rowCounts(server.services);
      expect(after.approvals).toBe(before.approvals + 1);
      expect(after.idempotencyKeys).toBe(before.idempotencyKeys + 1);
      const created = await server.services.db.selectFrom('approvals').select('id').where('id', '=', [...ids][0]!).execute();
      expect(created).toHaveLength(1);
    });
  });
});
