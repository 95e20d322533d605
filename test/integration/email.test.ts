import { afterAll, beforeAll, expect, it } from 'vitest';
import type { InboxTables } from '../../src/inbox/inbox-tables.ts';
import { SIGN_IN_LIMITS } from '../../src/inbox/sign-in.ts';
import { hiddenField, pageClient } from '../helpers/browser.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { linkIn, startSmtpStand, type SmtpStand } from '../helpers/smtp-stand.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

describeEachDatabase('email: nodemailer to a real SMTP server, links that never decide on a GET', (database) => {
  let smtp: SmtpStand;
  let server: TestServer;
  let agentKey: string;

  beforeAll(async () => {
    smtp = await startSmtpStand();
    server = await startTestServer(database, { env: { SMTP_URL: smtp.url, EMAIL_FROM: 'Countersign <countersign@acme.example>' } });
    await server.projects(
      [
        // local + SMTP: emailed without notify.email.
        { key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob', 'erin'] },
        { key: 'escalating', provider: 'local', reviewers: ['alice'], escalation: [{ after: '2s', reviewers: ['carol'] }] },
      ],
      [{ id: 'alice', email: 'alice@acme.example' }, { id: 'bob', email: 'Bob@Acme.example' }, { id: 'carol', email: 'carol@acme.example' }, { id: 'erin' }],
    );
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await smtp?.close();
  });

  const request = async (fields: Record<string, unknown> = {}) => {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'billing-bot', action: 'send_email', summary: 'Send the reply', payload: { to: 'ops@acme.example' }, risk: 'high', requestedBy: 'agent-7', ...fields } });
    expect(response.status).toBe(202);
    return (await response.json()) as { id: string; payloadHash: string };
  };
  const status = async (id: string) => ((await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as { status: string }).status;
  const unusedTokens = async (approvalId: string) => (await server.services.db.withTables<InboxTables>().selectFrom('inbox_tokens').select('token_hash').where('approval_id', '=', approvalId).where('used_at', 'is', null).execute()).length;
  /** The link of the email `to` got about approval `id`. */
  const linkFor = async (to: string, id: string) => linkIn(await smtp.waitFor(to, (m) => (m.text ?? '').includes(id)), `${server.services.config.publicUrl}/approvals/${id}?t=`);

  it('emails each current reviewer with an address text and HTML: summary, risk, payload hash, a link; agent text escaped', async () => {
    const a = await request({ summary: '<img src=x onerror=alert(1)> urgent' });
    const mail = await smtp.waitFor('alice@acme.example', (m) => (m.text ?? '').includes(a.id));
    const link = linkIn(mail, `${server.services.config.publicUrl}/approvals/${a.id}?t=`);
    expect(mail.from?.value[0]).toMatchObject({ name: 'Countersign', address: 'countersign@acme.example' });
    expect(mail.subject).toBe('[Countersign] high risk: <img src=x onerror=alert(1)> urgent');
    expect(mail.text).toContain(`Payload hash: ${a.payloadHash}`);
    expect(mail.text).toContain('Risk: high');
    expect(mail.html as string).not.toContain('<img');
    expect(mail.html as string).toContain('&lt;img src=x onerror=alert(1)&gt; urgent');
    expect(mail.html as string).toContain(`href="${link}"`);
    // Bob too, with his own link; erin has no address and gets nothing.
    expect(await linkFor('bob@acme.example', a.id)).not.toBe(link);
    expect(await unusedTokens(a.id)).toBe(2);
  });

  it("a link scanner's GETs decide nothing and use nothing up; the page's POST decides, once", async () => {
    const a = await request();
    const link = await linkFor('alice@acme.example', a.id);
    const before = await unusedTokens(a.id);
    for (const scanner of [pageClient(server.url), pageClient(server.url)]) {
      const seen = await scanner.get(link);
      expect(seen.status).toBe(200);
      expect(seen.html).toContain('name="outcome" value="approve"');
    }
    expect(await status(a.id)).toBe('pending');
    expect(await unusedTokens(a.id)).toBe(before);

    const alice = pageClient(server.url);
    const t = hiddenField((await alice.get(link)).html, 't');
    const decided = await alice.post(`/approvals/${a.id}/decision`, { t, outcome: 'approve', payloadHash: a.payloadHash, reason: 'from email' });
    expect(decided.status).toBe(200);
    expect(decided.html).toContain('Approved');
    expect(await status(a.id)).toBe('approved');
    const votes = await server.services.db.selectFrom('decision_votes').select(['reviewer', 'via']).where('approval_id', '=', a.id).execute();
    expect(votes).toEqual([{ reviewer: 'alice', via: 'inbox' }]);

    const reused = await alice.post(`/approvals/${a.id}/decision`, { t, outcome: 'reject', payloadHash: a.payloadHash, reason: 'again' });
    expect(reused.status).toBe(403);
    expect((await pageClient(server.url).get(link)).status).toBe(401);
  });

  it('a token decides only its own approval and payload, and not after it expired', async () => {
    const a = await request();
    const b = await request({ summary: 'Another one', payload: { other: true } });
    const link = await linkFor('alice@acme.example', a.id);
    const t = new URL(link).searchParams.get('t')!;
    expect((await pageClient(server.url).post(`/approvals/${b.id}/decision`, { t, outcome: 'approve', payloadHash: b.payloadHash, reason: '' })).status).toBe(403);
    const changed = await pageClient(server.url).post(`/approvals/${a.id}/decision`, { t, outcome: 'approve', payloadHash: b.payloadHash, reason: '' });
    expect(changed.html).toContain('The request changed');
    expect(await status(a.id)).toBe('pending');
    expect(await status(b.id)).toBe('pending');

    await server.services.db.withTables<InboxTables>().updateTable('inbox_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('approval_id', '=', a.id).execute();
    expect((await pageClient(server.url).get(link)).status).toBe(401);
    expect((await pageClient(server.url).post(`/approvals/${a.id}/decision`, { t, outcome: 'approve', payloadHash: a.payloadHash, reason: '' })).status).toBe(403);
    expect(await status(a.id)).toBe('pending');
  });

  it('a failed send is retried by the job queue, and the approval waits meanwhile', async () => {
    smtp.failNext(2);
    const a = await request({ summary: 'Retried' });
    expect(await status(a.id)).toBe('pending');
    await linkFor('alice@acme.example', a.id);
    expect(await status(a.id)).toBe('pending');
  }, 60_000);

  it('a send refused for one reviewer is retried for that reviewer alone: the others are not mailed again', async () => {
    smtp.failTo('bob@acme.example', 1);
    const a = await request({ summary: 'Partly refused' });
    const about = (to: string) => smtp.messages.filter((m) => (m.text ?? '').includes(a.id) && (Array.isArray(m.to) ? m.to : [m.to]).some((t) => t?.value.some((v) => v.address?.toLowerCase() === to)));
    await linkFor('alice@acme.example', a.id);
    await linkFor('bob@acme.example', a.id); // after the job's retry
    expect(smtp.refusedTo).toContain('bob@acme.example');
    expect(about('alice@acme.example')).toHaveLength(1);
    expect(about('bob@acme.example')).toHaveLength(1);
  }, 60_000);

  it('escalation emails the new tier', async () => {
    const a = await request({ project: 'escalating', summary: 'Escalate me' });
    const mail = await smtp.waitFor('carol@acme.example', (m) => (m.text ?? '').includes(a.id));
    expect(mail.text).toContain('It was escalated to you (tier 1)');
  }, 30_000);

  it('POST /login emails a known address a link and says the same for an unknown one; limits links per address', async () => {
    const client = pageClient(server.url);
    const form = await client.get('/login');
    expect(form.html).toContain('name="email"');
    const csrf = hiddenField(form.html, 'csrf');
    const known = await client.post('/login', { csrf, email: 'BOB@acme.example' });
    const unknown = await client.post('/login', { csrf, email: 'mallory@evil.example' });
    expect(known.status).toBe(200);
    expect(unknown.status).toBe(200);
    expect(known.html).toBe(unknown.html);
    expect(known.html).toContain('If that address belongs to a reviewer, a sign-in link is on its way');

    const mail = await smtp.waitFor('bob@acme.example', (m) => m.subject === '[Countersign] Your sign-in link');
    const link = linkIn(mail, `${server.services.config.publicUrl}/login?t=`);
    const confirm = await client.get(link);
    expect(confirm.html).toContain('Sign in as bob');
    const signed = await client.post('/login', { t: hiddenField(confirm.html, 't'), csrf: hiddenField(confirm.html, 'csrf') });
    expect(signed.location).toBe('/inbox');
    expect(smtp.messages.some((m) => JSON.stringify(m.to).includes('mallory'))).toBe(false);

    // A forged form is refused before anything is sent.
    expect((await pageClient(server.url).post('/login', { csrf: 'f'.repeat(64), email: 'alice@acme.example' })).status).toBe(403);

    const flood = pageClient(server.url);
    const floodCsrf = hiddenField((await flood.get('/login')).html, 'csrf');
    const answers: number[] = [];
    for (let i = 0; i < SIGN_IN_LIMITS.perAddress + 1; i++) answers.push((await flood.post('/login', { csrf: floodCsrf, email: 'nobody@acme.example' })).status);
    expect(answers.slice(0, SIGN_IN_LIMITS.perAddress).every((s) => s === 200)).toBe(true);
    expect(answers.at(-1)).toBe(429);
    await until(() => smtp.messages.filter((m) => m.subject === '[Countersign] Your sign-in link').length, (n) => n >= 1);
  });
});
