import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliRuntime } from '../../src/cli/cli-runtime.ts';
import { runCli } from '../../src/cli/run-cli.ts';
import type { InboxTables } from '../../src/inbox/inbox-tables.ts';
import { hiddenField, pageClient, type PageClient } from '../helpers/browser.ts';
import { countersign } from '../helpers/countersign-process.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

describeEachDatabase('web inbox: sign-in links, sessions, pages and decisions', (database) => {
  let server: TestServer;
  let agentKey: string;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([
      { key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'] },
      { key: 'two-step', provider: 'local', reviewers: ['alice', 'bob'], requiredApprovals: 2 },
      { key: 'hr-bot', provider: 'local', reviewers: ['carol'] },
      { key: 'bulk', provider: 'local', reviewers: ['alice'], batching: { when: { risk: ['low'] }, window: '1m', maxItems: 3 } },
      { key: 'tiered', provider: 'local', reviewers: ['bob'], escalation: [{ after: '1s', reviewers: ['erin'] }] },
      { key: 'editable', provider: 'local', reviewers: ['alice', 'bob'], allowEdits: true, grants: { maxHours: 8 } },
    ], [{ id: 'alice' }, { id: 'bob' }, { id: 'carol' }, { id: 'dave' }, { id: 'erin' }, { id: 'root', admin: true }]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(() => server?.close());

  const request = async (fields: Record<string, unknown>) => {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'billing-bot', action: 'send_email', summary: 'Send the reply', payload: { to: 'ops@acme.example' }, requestedBy: 'agent-7', ...fields } });
    expect(response.status).toBe(202);
    return (await response.json()) as { id: string; payloadHash: string };
  };
  const status = async (id: string) => ((await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as { status: string }).status;

  /** `countersign login-link`, run as the server runs a forwarded command line. */
  const loginLink = async (person: string) => {
    let out = '';
    const runtime: CliRuntime = { cwd: process.cwd(), out: (text) => void (out += text), err: (text) => void (out += text), withServices: (fn) => fn(server.services) };
    const code = await runCli(['login-link', '--person', person, '--json'], runtime);
    expect(code, out).toBe(0);
    return (JSON.parse(out) as { url: string }).url;
  };

  /** Opens a sign-in link and presses Sign in. */
  const signIn = async (person: string): Promise<PageClient> => {
    const client = pageClient(server.url);
    const link = await loginLink(person);
    expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/login\?t=[A-Za-z0-9_-]{43}$/);
    const confirm = await client.get(link);
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain(`Sign in as ${person}`);
    const signed = await client.post('/login', { t: hiddenField(confirm.html, 't'), csrf: hiddenField(confirm.html, 'csrf') });
    expect(signed.status).toBe(303);
    expect(signed.location).toBe('/inbox');
    return client;
  };

  it('signs in by a one-time link: opening it signs nobody in, the button does, once; the cookie is HttpOnly and SameSite=Lax', async () => {
    const client = pageClient(server.url);
    const link = await loginLink('alice');
    // A scanner opening the link twice uses nothing up.
    const first = await client.get(link);
    const again = await pageClient(server.url).get(link);
    expect(again.status).toBe(200);
    expect(client.cookies.has('countersign_session')).toBe(false);

    // A form from elsewhere (wrong CSRF value) signs nobody in.
    const forged = await client.post('/login', { t: hiddenField(first.html, 't'), csrf: 'f'.repeat(64) });
    expect(forged.status).toBe(403);

    const response = await fetch(`${server.url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      body: new URLSearchParams({ t: hiddenField(first.html, 't'), csrf: hiddenField(first.html, 'csrf') }),
    });
    expect(response.status).toBe(303);
    const setCookie = response.headers.getSetCookie().find((line) => line.startsWith('countersign_session='))!;
    expect(setCookie).toMatch(/httponly/i);
    expect(setCookie).toMatch(/samesite=lax/i);
    expect(setCookie).not.toMatch(/secure/i); // PUBLIC_URL is http here

    // Used: the same link again is refused, also with a valid form.
    const reused = await client.post('/login', { t: hiddenField(first.html, 't'), csrf: hiddenField(first.html, 'csrf') });
    expect(reused.status).toBe(401);
    // Only hashes are stored.
    const tokens = await server.services.db.withTables<InboxTables>().selectFrom('inbox_tokens').select('token_hash').execute();
    expect(tokens.every((t) => /^[0-9a-f]{64}$/.test(t.token_hash))).toBe(true);
    expect(JSON.stringify(tokens)).not.toContain(hiddenField(first.html, 't'));
  });

  it('refuses an expired sign-in link', async () => {
    const link = await loginLink('bob');
    await server.services.db.withTables<InboxTables>().updateTable('inbox_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('used_at', 'is', null).execute();
    const client = pageClient(server.url);
    expect((await client.get(link)).status).toBe(401);
  });

  it('shows the inbox with security headers, and an approval page whose agent text is shown, never rendered', async () => {
    const hostile = await request({ summary: '<script>alert(1)</script> pay <b>now</b>', details: '<img src=x onerror=alert(1)>\n**bold**', payload: { html: '<a href="javascript:x">' } });
    const alice = await signIn('alice');
    const inbox = await alice.get('/inbox');
    expect(inbox.status).toBe(200);
    expect(inbox.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(inbox.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(inbox.headers.get('referrer-policy')).toBe('no-referrer');
    expect(inbox.headers.get('x-content-type-options')).toBe('nosniff');
    expect(inbox.html).toContain(`/approvals/${hostile.id}`);
    expect(inbox.html).not.toContain('<script>');
    expect(inbox.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');

    const page = await alice.get(`/approvals/${hostile.id}`);
    expect(page.status).toBe(200);
    expect(page.html).not.toMatch(/<script|<img|<b>|<a href="javascript/);
    expect(page.html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page.html).toContain(hostile.payloadHash);
    expect(page.html).toContain('Audit trail');
    expect(page.html).toContain('approval.requested');
  });

  it('decides through the engine: forged CSRF refused, approve answers the long poll, the page says the outcome', async () => {
    const { id, payloadHash } = await request({ summary: 'Approve me' });
    const alice = await signIn('alice');
    const page = await alice.get(`/approvals/${id}`);
    const csrf = hiddenField(page.html, 'csrf');

    const forged = await alice.post(`/approvals/${id}/decision`, { csrf: 'x'.repeat(64), outcome: 'approve', payloadHash, reason: '' });
    expect(forged.status).toBe(403);
    // Without the session cookie, the right token alone is not enough either.
    const cookieless = await pageClient(server.url).post(`/approvals/${id}/decision`, { csrf, outcome: 'approve', payloadHash, reason: '' });
    expect(cookieless.status).toBe(403);
    expect(await status(id)).toBe('pending');

    const poll = server.fetch(`/v1/approvals/${id}?wait=30`, { key: agentKey });
    const decided = await alice.post(`/approvals/${id}/decision`, { csrf, outcome: 'approve', payloadHash, reason: 'Checked it' });
    expect(decided.status).toBe(200);
    expect(decided.html).toContain('Approved: the decision is final');
    const answered = (await (await poll).json()) as { status: string; decision: { by: string[]; reason: string } };
    expect(answered.status).toBe('approved');
    expect(answered.decision).toMatchObject({ by: ['alice'], reason: 'Checked it' });

    // The decided page shows its outcome and no form.
    const after = await alice.get(`/approvals/${id}`);
    expect(after.html).toContain('Approved</span> by alice');
    expect(after.html).not.toContain('name="outcome"');
    // Deciding again is refused as late, and says so.
    const late = await alice.post(`/approvals/${id}/decision`, { csrf, outcome: 'reject', payloadHash, reason: 'no' });
    expect(late.status).toBe(409);
    expect(late.html).toContain('Already approved');
  });

  it('approves with changes: the editor, the difference shown before it counts, then the edited payload approved', async () => {
    const { id, payloadHash } = await request({ project: 'editable', summary: 'Refund', payload: { to: 'ops@acme.example', amount: 250 } });
    const alice = await signIn('alice');
    const page = await alice.get(`/approvals/${id}`);
    expect(page.html).toContain('name="payload"');
    expect(page.html).toMatch(/<select id="grantHours" name="grantHours"><option value="">no standing grant<\/option><option value="1">1 hour<\/option><option value="4">4 hours<\/option><option value="8">8 hours<\/option><\/select>/);
    const csrf = hiddenField(page.html, 'csrf');

    const broken = await alice.post(`/approvals/${id}/decision`, { csrf, outcome: 'approve', payloadHash, reason: '', payload: '{"amount": ' });
    expect(broken.html).toContain('The edited payload is not valid JSON');

    const edited = { to: 'ops@acme.example', amount: 90 };
    const confirm = await alice.post(`/approvals/${id}/decision`, { csrf, outcome: 'approve', payloadHash, reason: 'Capped', payload: JSON.stringify(edited, null, 2) });
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain('Approve with changes?');
    expect(confirm.html).toMatch(/<td>replace<\/td><td><code>\/amount<\/code><\/td><td><code>90<\/code><\/td>/);
    expect(await status(id)).toBe('pending');

    const decided = await alice.post(`/approvals/${id}/decision`, {
      csrf: hiddenField(confirm.html, 'csrf'),
      outcome: 'approve',
      payloadHash: hiddenField(confirm.html, 'payloadHash'),
      reason: hiddenField(confirm.html, 'reason'),
      payload: hiddenField(confirm.html, 'payload'),
      confirm: hiddenField(confirm.html, 'confirm'),
    });
    expect(decided.html).toContain('Approved: the decision is final');
    const view = (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as { payload: unknown; originalPayloadHash: string; decision: { reason: string; patch: unknown[] } };
    expect(view).toMatchObject({ payload: edited, originalPayloadHash: payloadHash, decision: { reason: 'Capped', patch: [{ op: 'replace', path: '/amount', value: 90 }] } });
  });

  it('gives a standing grant from the form, which approves the next matching request at intake', async () => {
    const fields = { project: 'editable', action: 'refund', summary: 'Small refund', payload: { amount: 5 } };
    const { id, payloadHash } = await request(fields);
    const bob = await signIn('bob');
    const csrf = hiddenField((await bob.get(`/approvals/${id}`)).html, 'csrf');
    expect((await bob.post(`/approvals/${id}/decision`, { csrf, outcome: 'approve', payloadHash, reason: '', grantHours: '4' })).html).toContain('Approved');
    const next = await request(fields);
    expect(await status(next.id)).toBe('approved');
    // Another project's request, or another action, is not covered.
    expect(await status((await request({ ...fields, action: 'delete_account' })).id)).toBe('pending');

    // An admin sees it on the admin page and revokes it there; a non-admin cannot.
    const grantId = ((await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as { decision: { grant: { id: string } } }).decision.grant.id;
    const forged = await bob.post(`/admin/grants/${grantId}/revoke`, { csrf: hiddenField((await bob.get('/inbox')).html, 'csrf') });
    expect(forged.status).toBe(404);
    const root = await signIn('root');
    const admin = await root.get('/admin');
    expect(admin.html).toContain(grantId);
    const revoked = await root.post(`/admin/grants/${grantId}/revoke`, { csrf: hiddenField(admin.html, 'csrf') });
    expect(revoked.html).toContain(`Revoked ${grantId}`);
    expect(await status((await request(fields)).id)).toBe('pending');
  });

  it('says why an attempt was refused: self-approval, a second vote, a reject without reason, a changed payload hash', async () => {
    const own = await request({ summary: 'Alice asks herself', requestedBy: 'alice' });
    const alice = await signIn('alice');
    const csrf = hiddenField((await alice.get(`/approvals/${own.id}`)).html, 'csrf');
    const self = await alice.post(`/approvals/${own.id}/decision`, { csrf, outcome: 'approve', payloadHash: own.payloadHash, reason: '' });
    expect(self.status).toBe(409);
    expect(self.html).toContain('Refused (self_approval): alice requested this approval and cannot decide it');
    expect(await status(own.id)).toBe('pending');

    const noReason = await alice.post(`/approvals/${own.id}/decision`, { csrf, outcome: 'reject', payloadHash: own.payloadHash, reason: ' ' });
    expect(noReason.status).toBe(409);
    expect(noReason.html).toContain('give a reason to reject');

    const wrongHash = await alice.post(`/approvals/${own.id}/decision`, { csrf, outcome: 'approve', payloadHash: 'sha256:' + '0'.repeat(64), reason: '' });
    expect(wrongHash.html).toContain('The request changed since this page was made');

    const two = await request({ project: 'two-step', summary: 'Needs two' });
    const counted = await alice.post(`/approvals/${two.id}/decision`, { csrf, outcome: 'approve', payloadHash: two.payloadHash, reason: '' });
    expect(counted.html).toContain('Your approval counted: 1 of 2');
    const again = await alice.post(`/approvals/${two.id}/decision`, { csrf, outcome: 'approve', payloadHash: two.payloadHash, reason: '' });
    expect(again.html).toContain('Refused (already_voted)');
    expect(await status(two.id)).toBe('pending');
  });

  it("answers 404 for another project's approval, for a non-reviewer and for an unknown id, with nothing decided", async () => {
    const hr = await request({ project: 'hr-bot', summary: 'HR only' });
    const alice = await signIn('alice');
    const unknown = await alice.get('/approvals/apr_00000000000000000000000000');
    const other = await alice.get(`/approvals/${hr.id}`);
    expect(other.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(other.html.replace(hr.id, '')).toBe(unknown.html);
    const csrf = hiddenField((await alice.get('/inbox')).html, 'csrf');
    expect((await alice.post(`/approvals/${hr.id}/decision`, { csrf, outcome: 'approve', payloadHash: hr.payloadHash, reason: '' })).status).toBe(404);
    expect((await alice.get('/inbox')).html).not.toContain(hr.id);

    const dave = await signIn('dave');
    const mine = await request({ summary: 'Not for dave' });
    expect((await dave.get(`/approvals/${mine.id}`)).status).toBe(404);
    expect((await dave.post(`/approvals/${mine.id}/decision`, { csrf: hiddenField((await dave.get('/inbox')).html, 'csrf'), outcome: 'approve', payloadHash: mine.payloadHash, reason: '' })).status).toBe(404);
    expect(await status(hr.id)).toBe('pending');
    expect(await status(mine.id)).toBe('pending');
  });

  it('shows a tier reviewer only what reached their tier, and the admin page to admins only', async () => {
    const erin = await signIn('erin');
    const early = await request({ project: 'tiered', summary: 'Tiered request' });
    expect((await erin.get(`/approvals/${early.id}`)).status).toBe(404);
    await until(async () => (await erin.get('/inbox')).html, (page) => page.includes(early.id));
    expect((await erin.get(`/approvals/${early.id}`)).status).toBe(200);

    const root = await signIn('root');
    const admin = await root.get('/admin');
    expect(admin.status).toBe(200);
    expect(admin.html).toContain('<strong>billing-bot</strong>');
    expect(admin.html).toContain('tier 1 after 1s: erin');
    expect(admin.html).toContain('Dead callbacks');
    expect(admin.html).toMatch(/\d+ records\./);
    expect((await erin.get('/admin')).status).toBe(404);
  });

  it('decides a batch from its page: ticked items approved, unticked rejected with the reason', async () => {
    const items: Array<{ id: string; payloadHash: string }> = [];
    for (let i = 0; i < 3; i++) items.push(await request({ project: 'bulk', summary: `Bulk ${i}`, risk: 'low', payload: { i } }));
    const batchId = await until(
      async () => ((await (await server.fetch(`/v1/approvals/${items[0]!.id}`, { key: agentKey })).json()) as { batchId: string | null }).batchId,
      (id) => id !== null,
    );
    const alice = await signIn('alice');
    const page = await until(async () => (await alice.get(`/batches/${batchId}`)).html, (html) => html.includes('name="include"'));
    expect(page).toContain('Bulk 2');
    const decided = await alice.post(`/batches/${batchId}/decision`, { csrf: hiddenField(page, 'csrf'), outcome: 'approve', reason: 'not this one', include: [items[0]!.id, items[2]!.id] });
    expect(decided.status).toBe(200);
    expect(decided.html).toContain('3 decided');
    expect(await status(items[0]!.id)).toBe('approved');
    expect(await status(items[1]!.id)).toBe('rejected');
    expect(await status(items[2]!.id)).toBe('approved');
    expect((await pageClient(server.url).post(`/batches/${batchId}/decision`, { csrf: 'x', outcome: 'approve', reason: '' })).status).toBe(403);
  });

  it('sends a browser opening the local ticket URL to the page, and leaves API clients alone; signs out', async () => {
    const { id } = await request({ summary: 'Ticket URL' });
    const ticket = await until(async () => ((await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as { ticket: { url: string } | null }).ticket, (t) => t !== null);
    expect(new URL(ticket!.url).pathname).toBe(`/v1/approvals/${id}`);
    const browser = await fetch(`${server.url}/v1/approvals/${id}`, { redirect: 'manual', headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe(`/approvals/${id}`);
    const api = await fetch(`${server.url}/v1/approvals/${id}`, { redirect: 'manual' });
    expect(api.status).toBe(401);

    const alice = await signIn('alice');
    expect((await alice.get(`/approvals/${id}`)).status).toBe(200);
    const csrf = hiddenField((await alice.get('/inbox')).html, 'csrf');
    // A forged sign-out form ends nothing.
    expect((await alice.post('/logout', { csrf: 'x'.repeat(64) })).status).toBe(403);
    expect((await alice.get('/inbox')).status).toBe(200);
    const out = await alice.post('/logout', { csrf });
    expect(out.status).toBe(200);
    const after = await alice.get('/inbox');
    expect(after.status).toBe(302);
    expect(after.location).toBe('/login');

    // An expired session is no session.
    const bob = await signIn('bob');
    expect((await bob.get('/inbox')).status).toBe(200);
    await server.services.db.withTables<InboxTables>().updateTable('inbox_sessions').set({ expires_at: new Date(Date.now() - 1000) }).execute();
    expect((await bob.get('/inbox')).status).toBe(302);
  });
});

describeEachDatabase('web inbox behind https (PUBLIC_URL https://…)', (database) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(database, { env: { PUBLIC_URL: 'https://countersign.acme.example' } });
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice'] }], [{ id: 'alice' }]);
  });
  afterAll(() => server?.close());

  it('marks the cookies Secure, though the socket behind the proxy is plain HTTP', async () => {
    const { createSignInLink } = await import('../../src/inbox/sign-in.ts');
    const { url } = await createSignInLink(server.services, 'alice');
    expect(url).toMatch(/^https:\/\/countersign\.acme\.example\/login\?t=/);
    const confirm = await fetch(`${server.url}${new URL(url).pathname}${new URL(url).search}`);
    const login = confirm.headers.getSetCookie().find((line) => line.startsWith('countersign_login='))!;
    expect(login).toMatch(/; secure/i);
    const html = await confirm.text();
    const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)![1]!;
    const signed = await fetch(`${server.url}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: login.split(';')[0]! },
      body: new URLSearchParams({ t: field('t'), csrf: field('csrf') }),
    });
    expect(signed.status).toBe(303);
    const session = signed.headers.getSetCookie().find((line) => line.startsWith('countersign_session='))!;
    expect(session).toMatch(/; secure/i);
    expect(session).toMatch(/; httponly/i);
  });
});

describe('countersign login-link with the server stopped (embedded database)', () => {
  it('prints a one-time link for a person of the directory, and refuses an unknown person', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-login-link-'));
    try {
      const env = { COUNTERSIGN_DATA_DIR: path.join(dir, 'data') };
      await fs.writeFile(path.join(dir, 'projects.yaml'), 'people:\n  - id: alice\nprojects:\n  - key: billing-bot\n    provider: local\n    reviewers: [alice]\n');
      expect((await countersign(['projects', 'apply', 'projects.yaml'], { cwd: dir, env })).code).toBe(0);
      const run = await countersign(['login-link', '--person', 'alice', '--json'], { cwd: dir, env });
      expect(run.code, run.stderr).toBe(0);
      const link = JSON.parse(run.stdout) as { person: string; url: string; expiresAt: string };
      expect(link.person).toBe('alice');
      expect(link.url).toMatch(/^http:\/\/127\.0\.0\.1:8080\/login\?t=[A-Za-z0-9_-]{43}$/);
      const unknown = await countersign(['login-link', '--person', 'mallory'], { cwd: dir, env });
      expect(unknown.code).toBe(1);
      expect(unknown.stderr).toContain('no person mallory in the people directory');
      const usage = await countersign(['login-link'], { cwd: dir, env });
      expect(usage.code).toBe(2);
      expect(usage.stderr).toContain("required option '--person <id>'");
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
