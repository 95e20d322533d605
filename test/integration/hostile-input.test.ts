import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { canonicalJson, payloadHash } from '../../src/primitives/canonical-json.ts';
import { runInServer } from '../../src/cli/main.ts';
import { runReconcileTickets } from '../../src/tickets/reconcile-tickets.ts';
import { MAX_JSON_DEPTH } from '../../src/primitives/json-value-problem.ts';
import { createLogger } from '../../src/config/logger.ts';
import { startAdminSocket, type CommandResult } from '../../src/server/admin-socket.ts';
import type { Services } from '../../src/services.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type Delivery, type FakeGitHub } from '../helpers/fake-github.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

/**
 * Issue 11, class 3: bad input gets a clear 4xx naming the field and changes nothing, on
 * every route that takes input; valid edge values are stored exactly. Hostile values are
 * generated with fast-check and written into the raw request text.
 */

interface ErrorBody {
  error: { code: string; message: string };
}

/** Every table a request could write to. Queued audit entries are flushed first, so a count is final. */
async function everyRowCount(services: Services): Promise<Record<string, number>> {
  await services.audit.flush();
  const tables = ['approvals', 'idempotency_keys', 'pgboss.job', 'audit_records', 'api_keys', 'projects', 'decision_votes', 'batches', 'webhook_deliveries'];
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const { rows } = await sql<{ n: string | number }>`select count(*) as n from ${sql.raw(table)}`.execute(services.db);
    counts[table] = Number(rows[0]!.n);
  }
  return counts;
}

// What never reaches the database: NUL, lone high and low surrogates.
const unstorable = fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff');
// What a single-line field (names, titles, ids) refuses on top: every other C0 control and DEL.
const lineBreaking = fc.constantFrom('\u0001', '\u0007', '\t', '\n', '\r', '\u001b', '\u007f');
// What multi-line text (details, reasons) refuses on top: C0 controls other than tab, LF, CR.
const controls = fc.constantFrom('\u0001', '\u0007', '\u000b', '\u000c', '\u001b', '\u007f');
/** Printable text with one bad character in it. "SECRET" marks what an error message must never echo. */
const around = (bad: fc.Arbitrary<string>) => fc.tuple(fc.string({ maxLength: 8 }), bad, fc.string({ maxLength: 8 })).map(([a, c, b]) => `${a}SECRET${c}${b}`);
const singleLineHostile = around(fc.oneof(unstorable, lineBreaking));
const multiLineHostile = around(fc.oneof(unstorable, controls));
const RUNS = { numRuns: 6 };

const nested = (depth: number, leaf: unknown): unknown => (depth === 0 ? leaf : depth % 2 ? [nested(depth - 1, leaf)] : { a: nested(depth - 1, leaf) });
const validIntake = { project: 'billing-bot', action: 'send_email', summary: 'Send the reply', payload: { to: 'ops@acme.example' } };

describeEachDatabase('hostile input: a clear 4xx naming the field, and nothing written', (database) => {
  let server: TestServer;
  let agentKey: string;
  let reviewerKey: string;
  let adminKey: string;
  let pendingId: string;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'], requiredApprovals: 2 }]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
    reviewerKey = await server.key({ scopes: ['review', 'read'], reviewer: 'alice' });
    adminKey = await server.key({ scopes: ['admin', 'read'] });
    const created = await server.fetch('/v1/approvals', { key: agentKey, json: validIntake });
    pendingId = ((await created.json()) as { id: string }).id;
  });
  afterAll(() => server?.close());

  interface Sent {
    method?: string;
    key?: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
  }
  const send = (pathname: string, { method = 'POST', key = agentKey, body, headers = {} }: Sent = {}) =>
    server.fetch(pathname, { method, key, ...(body !== undefined ? { body: typeof body === 'string' ? body : new Blob([new Uint8Array(body)]) } : {}), headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers } });

  /**
   * Sends, and checks: the status (never 5xx), the contract's error body, the field named,
   * the hostile value not echoed, and every table as it was.
   */
  const refused = async (request: () => Promise<Response>, status: number, field?: string, code?: string): Promise<ErrorBody> => {
    const before = await everyRowCount(server.services);
    const response = await request();
    const text = await response.text();
    expect(response.status, text).toBe(status);
    const body = JSON.parse(text) as ErrorBody;
    expect(Object.keys(body)).toEqual(['error']);
    expect(body.error.code).toMatch(/^[a-z]+(_[a-z]+)*$/);
    if (code) expect(body.error.code).toBe(code);
    if (field) expect(body.error.message).toContain(field);
    expect(body.error.message).not.toContain('SECRET');
    // eslint-disable-next-line no-control-regex -- the point: no control character is echoed
    expect(body.error.message).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/);
    expect(await everyRowCount(server.services)).toEqual(before);
    return body;
  };
  const intake = (body: unknown) => () => send('/v1/approvals', { body: typeof body === 'string' ? body : JSON.stringify(body) });

  describe('POST /v1/approvals', () => {
    it.each([
      ['project', (t: string) => ({ ...validIntake, project: t })],
      ['action', (t: string) => ({ ...validIntake, action: t })],
      ['summary', (t: string) => ({ ...validIntake, summary: t })],
      ['requestedBy', (t: string) => ({ ...validIntake, requestedBy: t })],
      ['callbackUrl', (t: string) => ({ ...validIntake, callbackUrl: `http://127.0.0.1:9/${t}` })],
      ['labels[1]', (t: string) => ({ ...validIntake, labels: ['ok', t] })],
    ])('refuses NUL, lone surrogates and control characters in %s with 422 naming it', async (field, build) => {
      await fc.assert(fc.asyncProperty(singleLineHostile, async (text) => void (await refused(intake(build(text)), 422, field, 'invalid_request'))), RUNS);
    });

    it('refuses NUL, lone surrogates and control characters other than tab and line breaks in details', async () => {
      await fc.assert(fc.asyncProperty(multiLineHostile, async (text) => void (await refused(intake({ ...validIntake, details: `# Plan\n\t${text}` }), 422, 'details'))), RUNS);
    });

    it('refuses NUL and lone surrogates in a payload string or key, naming its path', async () => {
      await fc.assert(
        fc.asyncProperty(around(unstorable), async (text) => {
          await refused(intake({ ...validIntake, payload: { a: [1, { b: text }] } }), 422, 'payload.a[1].b', 'invalid_request');
          await refused(intake({ ...validIntake, payload: { a: { [text]: 1 } } }), 422, 'payload.a: a key contains');
        }),
        RUNS,
      );
    });

    it('refuses a NUL or lone surrogate in the name of an unknown field too, without echoing it', async () => {
      await fc.assert(fc.asyncProperty(around(unstorable), async (text) => void (await refused(intake({ ...validIntake, [text]: 'x' }), 422))), RUNS);
    });

    it.each([
      ['1e400', 'not finite'],
      ['-1e400', 'not finite'],
      ['1e-400', 'would read as 0'],
      ['12345678901234567890', '2^53'],
      ['9007199254740992', '2^53'],
      ['-9007199254740993', '2^53'],
      ['9007199254740993.0', '2^53'],
      ['1.5e300', '2^53'],
      ['0.1000000000000000000001', 'more digits'],
    ])('refuses the number %s written into the payload with 422 naming its path', async (raw, why) => {
      const body = await refused(intake(`{"project":"billing-bot","action":"a","summary":"s","payload":{"n":[0,{"x":${raw}}]}}`), 422, 'payload.n[1].x', 'invalid_request');
      expect(body.error.message).toContain(why);
    });

    it('refuses any integer beyond ±(2^53−1), however written', async () => {
      const beyond = fc.tuple(fc.bigInt({ min: 2n ** 53n, max: 2n ** 80n }), fc.boolean(), fc.constantFrom('', '.0', 'e0')).map(([n, negative, suffix]) => `${negative ? '-' : ''}${n}${suffix}`);
      await fc.assert(fc.asyncProperty(beyond, async (raw) => void (await refused(intake(`{"project":"billing-bot","action":"a","summary":"s","payload":{"n":${raw}}}`), 422, 'payload.n'))), RUNS);
    });

    it('refuses a number that cannot be stored in a field other than the payload, naming it', async () => {
      await refused(intake('{"project":"billing-bot","action":"a","summary":"s","risk":1e400}'), 422, 'risk');
    });

    it('refuses a key given twice with different values (I-JSON) with 422, at the top and inside the payload', async () => {
      const top = await refused(intake('{"project":"billing-bot","action":"a","summary":"s","summary":"t"}'), 422, '"summary"', 'invalid_request');
      expect(top.error.message).toMatch(/twice/);
      await refused(intake('{"project":"billing-bot","action":"a","summary":"s","payload":{"to":"a@x.example","to":"b@x.example"}}'), 422, '"to"');
    });

    it(`refuses nesting deeper than ${MAX_JSON_DEPTH} levels, also far deeper, naming the payload`, async () => {
      const body = await refused(intake({ ...validIntake, payload: nested(MAX_JSON_DEPTH, 'leaf') }), 422, 'payload', 'invalid_request');
      expect(body.error.message).toContain(`deeper than ${MAX_JSON_DEPTH}`);
      const deep = `{"project":"billing-bot","action":"a","summary":"s","payload":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
      await refused(intake(deep), 422, 'payload');
    });

    it('refuses a body with a byte order mark, invalid UTF-8 or a raw control character with 400', async () => {
      const text = JSON.stringify(validIntake);
      await refused(intake(`\ufeff${text}`), 400, 'byte order mark', 'invalid_json');
      const [head, tail] = [Buffer.from(text.slice(0, -2)), Buffer.from(text.slice(-2))];
      // A stray byte, a broken sequence, a UTF-8-encoded lone surrogate (CESU-8), an overlong "/".
      for (const bad of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xc0, 0xaf]]) {
        await refused(() => send('/v1/approvals', { body: Buffer.concat([head, Buffer.from(bad), tail]) }), 400, 'UTF-8', 'invalid_encoding');
      }
      await refused(intake(text.replace('Send', 'Se\u0000nd')), 400, undefined, 'invalid_json');
    });

    it.each(['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1'])(
      'refuses Content-Type %s with 415',
      async (type) => {
        await refused(() => send('/v1/approvals', { body: JSON.stringify(validIntake), headers: { 'content-type': type } }), 415, 'Content-Type', 'unsupported_media_type');
      },
    );

    it('refuses a giant body with 413, however it nests', async () => {
      await refused(intake({ ...validIntake, payload: { list: Array.from({ length: 60_000 }, (_, i) => i) } }), 413, undefined, 'body_too_large');
      await refused(intake(`{"payload":${'['.repeat(150_000)}${']'.repeat(150_000)}}`), 413, undefined, 'body_too_large');
    });

    it.each([
      ['latin-1 text', 'caf\u00e9'],
      ['a tab', 'a\tb'],
    ])('refuses an Idempotency-Key with %s with 400', async (_, key) => {
      await refused(() => send('/v1/approvals', { body: JSON.stringify(validIntake), headers: { 'idempotency-key': key } }), 400, 'Idempotency-Key', 'invalid_idempotency_key');
    });
  });

  describe('valid edge values are accepted and stored exactly', () => {
    const accepted = async (request: Record<string, unknown>) => {
      const response = await send('/v1/approvals', { body: JSON.stringify(request) });
      expect(response.status, await response.clone().text()).toBe(202);
      const { id } = (await response.json()) as { id: string };
      const view = (await (await send(`/v1/approvals/${id}`, { method: 'GET' })).json()) as ApprovalView;
      const row = await server.services.db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
      return { view, row };
    };

    it(`keeps nesting of exactly ${MAX_JSON_DEPTH} levels (payload at ${MAX_JSON_DEPTH - 1}), emoji, non-BMP text and the largest exact integers`, async () => {
      const payload = {
        deep: nested(MAX_JSON_DEPTH - 2, 'bottom'),
        emoji: '👩🏽‍💻 ✅ 𝄞 𠜎 עִבְרִית',
        max: 9007199254740991,
        min: -9007199254740991,
        tiny: 5e-324,
        tenth: 0.1,
        small: 123.456e-5,
        controlsAreData: 'tab\there\u0001',
      };
      const { view, row } = await accepted({ ...validIntake, summary: 'Ship 🚀 𝄞', details: '# Plan\n\n\tstep one\r\n', requestedBy: 'agent-🤖', labels: ['ünïcode', '𝄞'], payload });
      expect(canonicalJson(row.payload)).toBe(canonicalJson(payload));
      expect(view.payloadHash).toBe(payloadHash(payload));
      expect(view).toMatchObject({ summary: 'Ship 🚀 𝄞', requestedBy: 'agent-🤖', labels: ['ünïcode', '𝄞'] });
      expect(row).toMatchObject({ summary: 'Ship 🚀 𝄞', details: '# Plan\n\n\tstep one\r\n', requested_by: 'agent-🤖', labels: ['ünïcode', '𝄞'] });
    });

    it('reads -0 as 0 (RFC 8785 writes it so), in the stored payload and in its hash alike', async () => {
      const response = await send('/v1/approvals', { body: '{"project":"billing-bot","action":"a","summary":"s","payload":{"z":-0,"e":1E2}}' });
      expect(response.status).toBe(202);
      const { id, payloadHash: hash } = (await response.json()) as { id: string; payloadHash: string };
      const row = await server.services.db.selectFrom('approvals').select('payload').where('id', '=', id).executeTakeFirstOrThrow();
      expect(canonicalJson(row.payload)).toBe('{"e":100,"z":0}');
      expect(hash).toBe(payloadHash({ z: 0, e: 100 }));
    });

    it('keeps a key given twice with the same value once', async () => {
      const response = await send('/v1/approvals', { body: '{"project":"billing-bot","action":"a","summary":"s","payload":{"a":1,"a":1}}' });
      expect(response.status).toBe(202);
      expect(((await response.json()) as { payloadHash: string }).payloadHash).toBe(payloadHash({ a: 1 }));
    });

    it('stores any storable JSON payload exactly: what is hashed is what is kept', async () => {
      const text = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => !s.includes('\u0000'));
      const number = fc.oneof(fc.maxSafeInteger(), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }));
      const { value } = fc.letrec((tie) => ({
        value: fc.oneof({ depthSize: 'small', maxDepth: 4 }, text, number, fc.boolean(), fc.constant(null), fc.array(tie('value'), { maxLength: 4 }), fc.dictionary(text, tie('value'), { maxKeys: 4 })),
      }));
      await fc.assert(
        fc.asyncProperty(value, async (payload) => {
          const { view, row } = await accepted({ ...validIntake, payload });
          expect(canonicalJson(row.payload)).toBe(canonicalJson(payload));
          expect(view.payloadHash).toBe(payloadHash(payload));
        }),
        { numRuns: 12 },
      );
    });
  });

  describe('ids, query values and the other routes', () => {
    const badIds = ['%00', 'apr_%00', '%ED%A0%80', `apr_${'0'.repeat(26)}%00`, `apr_${'0'.repeat(25)}%0A`, 'x'.repeat(3000), 'SECRET%F0%9F'];

    it.each(badIds)('answers the id %s with 404 on every approval route, before any query', async (id) => {
      await refused(() => send(`/v1/approvals/${id}`, { method: 'GET' }), 404, undefined, 'not_found');
      await refused(() => send(`/v1/approvals/${id}?wait=1`, { method: 'GET' }), 404, undefined, 'not_found');
      await refused(() => send(`/v1/approvals/${id}/cancel`), 404, undefined, 'not_found');
      await refused(() => send(`/v1/approvals/${id}/decision`, { key: reviewerKey, body: '{"outcome":"approve"}' }), 404, undefined, 'not_found');
      await refused(() => send(`/v1/approvals/${id}/redeliver`, { key: adminKey }), 404, undefined, 'not_found');
      await refused(() => send(`/v1/batches/${id.replace('apr_', 'bat_')}`, { method: 'GET' }), 404, undefined, 'not_found');
      await refused(() => send(`/v1/batches/${id.replace('apr_', 'bat_')}/decision`, { key: reviewerKey, body: '{"outcome":"approve"}' }), 404, undefined, 'not_found');
    });

    it.each(['abc', '-1', '61', 'Infinity', 'NaN', '1e400', '%00'])('answers wait=%s with 400 naming wait', async (wait) => {
      await refused(() => send(`/v1/approvals/${pendingId}?wait=${wait}`, { method: 'GET' }), 400, 'wait', 'invalid_wait');
    });

    it.each(['%00', '%ED%A0%80', 'Billing%0Abot'])('answers GET /v1/approvals?project=%s with 400 naming project', async (project) => {
      await refused(() => send(`/v1/approvals?project=${project}`, { method: 'GET' }), 400, 'project');
    });

    it.each(['%00', '%ED%A0%80', 'apr_x', `apr_${'0'.repeat(26)}%00`])('answers GET /v1/audit?approvalId=%s with 404 naming approvalId, like an unknown id', async (approvalId) => {
      await refused(() => send(`/v1/audit?approvalId=${approvalId}`, { method: 'GET' }), 404, 'approvalId', 'not_found');
    });

    it('refuses hostile text in a decision reason or outcome with 422 naming it, and counts no vote', async () => {
      await fc.assert(
        fc.asyncProperty(multiLineHostile, singleLineHostile, async (reason, outcome) => {
          await refused(() => send(`/v1/approvals/${pendingId}/decision`, { key: reviewerKey, body: JSON.stringify({ outcome: 'reject', reason }) }), 422, 'reason');
          await refused(() => send(`/v1/approvals/${pendingId}/decision`, { key: reviewerKey, body: JSON.stringify({ outcome }) }), 422, 'outcome');
        }),
        RUNS,
      );
      await refused(() => send(`/v1/approvals/${pendingId}/decision`, { key: reviewerKey, body: '{"outcome":"approve","outcome":"reject"}' }), 422, '"outcome"');
      await refused(() => send(`/v1/approvals/${pendingId}/decision`, { key: reviewerKey, body: JSON.stringify({ outcome: 'approve' }), headers: { 'content-type': 'text/plain' } }), 415);
    });

    it('refuses hostile text in a batch decision with 422 naming the field', async () => {
      const batch = `/v1/batches/bat_${'0'.repeat(26)}/decision`;
      await fc.assert(
        fc.asyncProperty(multiLineHostile, async (text) => {
          await refused(() => send(batch, { key: reviewerKey, body: JSON.stringify({ outcome: 'reject', reason: text }) }), 422, 'reason');
          await refused(() => send(batch, { key: reviewerKey, body: JSON.stringify({ outcome: 'approve', exclude: [{ id: pendingId, reason: text }] }) }), 422, 'exclude[0].reason');
          await refused(() => send(batch, { key: reviewerKey, body: JSON.stringify({ outcome: 'approve', exclude: [{ id: `${pendingId}${text}` }] }) }), 422, 'exclude[0].id');
        }),
        RUNS,
      );
    });

    it('refuses hostile text anywhere in a project mapping with 422 naming the field', async () => {
      const mapping = { provider: 'local', reviewers: ['alice'] };
      const fields: Array<[string, (t: string) => unknown]> = [
        ['reviewers[1]', (t) => ({ ...mapping, reviewers: ['alice', t] })],
        ['labels.approved', (t) => ({ ...mapping, labels: { approved: t } })],
        ['rules[0].when.action[0]', (t) => ({ ...mapping, rules: [{ when: { action: [t] }, set: { requiredApprovals: 1 } }] })],
        ['escalation[0].after', (t) => ({ ...mapping, escalation: [{ after: t, outcome: 'expire' }] })],
      ];
      await fc.assert(
        fc.asyncProperty(singleLineHostile, fc.constantFrom(...fields), async (text, [field, build]) => {
          await refused(() => send('/v1/admin/projects/evil', { method: 'PUT', key: adminKey, body: JSON.stringify(build(text)) }), 422, field);
        }),
        { numRuns: 12 },
      );
      await refused(() => send('/v1/admin/projects/evil', { method: 'PUT', key: adminKey, body: '{"provider":"local","reviewers":["alice"],"requiredApprovals":1e400}' }), 422, 'requiredApprovals');
      await refused(() => send('/v1/admin/projects/evil', { method: 'PUT', key: adminKey, body: '{"provider":"local","reviewers":["alice"],"provider":"jira"}' }), 422, '"provider"');
    });

    it.each(['%00', '%ED%A0%80', 'SECRET%0A', 'Billing-Bot'])('answers the project key %s with 4xx on PUT, GET and DELETE', async (key) => {
      await refused(() => send(`/v1/admin/projects/${key}`, { method: 'PUT', key: adminKey, body: '{"provider":"local","reviewers":["alice"]}' }), 422, 'key');
      await refused(() => send(`/v1/admin/projects/${key}`, { method: 'GET', key: adminKey }), 404);
      await refused(() => send(`/v1/admin/projects/${key}`, { method: 'DELETE', key: adminKey }), 404);
    });
  });

  describe('the admin socket and CLI values', () => {
    let dir: string;
    let closeSocket: () => Promise<void>;

    beforeAll(async () => {
      dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-hostile-'));
      closeSocket = await startAdminSocket(dir, (request) => runInServer(request, server.services), createLogger('silent'));
    });
    afterAll(async () => {
      await closeSocket?.();
      await fs.rm(dir, { recursive: true, force: true });
    });

    /** A raw exchange on the socket: what any local process could send, not only our CLI. */
    const overSocket = (body: string | Buffer) =>
      new Promise<CommandResult>((resolve, reject) => {
        const req = http.request({ socketPath: path.join(dir, 'admin.sock'), method: 'POST', path: '/run' }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString()) as CommandResult));
        });
        req.on('error', reject);
        req.end(body);
      });

    const refusedCommand = async (body: string | Buffer, exitCode: number, field: string) => {
      const before = await everyRowCount(server.services);
      const result = await overSocket(body);
      expect(result.exitCode, result.stderr).toBe(exitCode);
      expect(result.stderr).toContain(field);
      expect(result.stderr).not.toContain('SECRET');
      expect(await everyRowCount(server.services)).toEqual(before);
    };

    it('refuses a command line holding NUL or a lone surrogate as a usage error (exit 2), running nothing', async () => {
      await fc.assert(
        fc.asyncProperty(around(unstorable), async (text) => {
          await refusedCommand(JSON.stringify({ argv: ['keys', 'create', `--name=${text}`, '--scopes', 'intake'], cwd: dir }), 2, 'argv[2]');
        }),
        RUNS,
      );
      await refusedCommand(JSON.stringify({ argv: ['keys', 'list'], cwd: `${dir}\u0000` }), 2, 'cwd');
      await refusedCommand(Buffer.from([0x7b, 0xff, 0x7d]), 2, 'UTF-8');
      await refusedCommand(JSON.stringify({ argv: 'keys list', cwd: dir }), 2, 'argv');
    });

    it('refuses keys create with a control character in --name or --reviewer (exit 1, 422 message), creating no key', async () => {
      await fc.assert(
        fc.asyncProperty(around(lineBreaking), async (text) => {
          await refusedCommand(JSON.stringify({ argv: ['keys', 'create', `--name=${text}`, '--scopes', 'intake'], cwd: dir }), 1, 'name:');
          await refusedCommand(JSON.stringify({ argv: ['keys', 'create', '--name', 'ok', '--scopes', 'review', `--reviewer=${text}`], cwd: dir }), 1, 'reviewer:');
        }),
        RUNS,
      );
    });

    it('refuses projects apply of a file with NUL, a lone surrogate or a control character, naming the field (exit 1)', async () => {
      const file = path.join(dir, 'mapping.yaml');
      const variants: Array<[string, string]> = [
        ['"ali\\0ce"', 'projects[0].reviewers[0]'],
        ['"ali\\ud800ce"', 'projects[0].reviewers[0]'],
        ['"ali\\nce"', 'projects[0].reviewers[0]'],
        ['"ali\\x1bce"', 'projects[0].reviewers[0]'],
      ];
      for (const [reviewer, field] of variants) {
        await fs.writeFile(file, `projects:\n  - key: evil\n    provider: local\n    reviewers: [${reviewer}]\n`);
        await refusedCommand(JSON.stringify({ argv: ['projects', 'apply', file], cwd: dir }), 1, field);
      }
      await fs.writeFile(file, Buffer.concat([Buffer.from('projects:\n  - key: evil\n    provider: local\n    reviewers: [ali'), Buffer.from([0]), Buffer.from('ce]\n')]));
      await refusedCommand(JSON.stringify({ argv: ['projects', 'apply', file], cwd: dir }), 1, 'projects[0].reviewers[0]');
    });
  });
});

describeEachDatabase('hostile text from a verified GitHub webhook is stored safely, never poisoning a delivery', (database) => {
  const SECRET = 'test-webhook-secret';
  let fake: FakeGitHub;
  let server: TestServer;
  let agentKey: string;

  beforeAll(async () => {
    fake = await startFakeGitHub({ secret: SECRET });
    server = await startTestServer(database, { env: fake.serverEnv });
    await server.projects([{ key: 'billing-bot', provider: 'github', github: { owner: fake.owner, repo: fake.repo }, reviewers: ['alice', 'bob'] }]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await fake?.stop();
  });

  const get = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;
  async function opened(summary: string): Promise<{ id: string; issue: number }> {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { ...validIntake, summary } });
    const { id } = (await response.json()) as { id: string };
    const view = await until(() => get(id), (v) => v.ticket !== null);
    return { id, issue: Number(view.ticket!.key.split('#')[1]) };
  }
  const deliver = async (delivery: Delivery) =>
    fetch(`${server.url}/webhooks/github`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id, 'x-hub-signature-256': await fake.sign(delivery.body) },
      body: delivery.body,
    });

  it('applies a signed /reject comment holding NUL and lone surrogates, storing them as U+FFFD', async () => {
    const { id, issue } = await opened('webhook with NUL');
    const delivery = fake.comment(issue, '/reject bad\u0000idea \ud800 and \udfff', 'bob');
    expect(delivery.body).toContain('\\u0000');
    const response = await deliver(delivery);
    expect(response.status).toBe(202);
    const view = await until(() => get(id), (v) => v.status !== 'pending');
    expect(view).toMatchObject({ status: 'rejected', decision: { by: ['bob'], reason: 'bad\uFFFDidea \uFFFD and \uFFFD' } });
  });

  it('reconciliation reading such a comment from the API stores it safely too', async () => {
    const { id, issue } = await opened('reconciled NUL');
    fake.comment(issue, '/reject from \u0000 the API \udc00', 'alice');
    const summary = await runReconcileTickets(server.services);
    expect(summary.attempted).toBeGreaterThanOrEqual(1);
    expect(await get(id)).toMatchObject({ status: 'rejected', decision: { by: ['alice'], reason: 'from \uFFFD the API \uFFFD' } });
  });
});
