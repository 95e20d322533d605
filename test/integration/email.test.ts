import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEmailChannel } from '../../src/channels/email/email-channel.ts';
import type { ApprovalSummary, NotificationChannel } from '../../src/channels/notification-channel.ts';
import { approvalLinkMinter } from '../../src/inbox/approval-links.ts';
import type { InboxTables } from '../../src/inbox/inbox-tables.ts';
import { hiddenField, pageClient } from '../helpers/browser.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { linkIn, startSmtpStand, type SmtpStand } from '../helpers/smtp-stand.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

describeEachDatabase('email: nodemailer to a real SMTP server, links that never decide on a GET', (database) => {
  let smtp: SmtpStand;
  let server: TestServer;
  let agentKey: string;
  let channel: NotificationChannel;

  beforeAll(async () => {
    smtp = await startSmtpStand();
    server = await startTestServer(database, { env: { SMTP_URL: smtp.url, EMAIL_FROM: 'Countersign <countersign@acme.example>' } });
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'] }]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
    channel = createEmailChannel({ mailer: server.services.mail!, approvalLink: approvalLinkMinter(server.services) });
  });
  afterAll(async () => {
    await server?.close();
    await smtp?.close();
  });

  const request = async (fields: Record<string, unknown> = {}) => {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'billing-bot', action: 'send_email', summary: 'Send the reply', payload: { to: 'ops@acme.example' }, risk: 'high', requestedBy: 'agent-7', ...fields } });
    return (await response.json()) as { id: string; payloadHash: string; summary: string };
  };
  const summaryOf = (a: { id: string; payloadHash: string }, summary: string): ApprovalSummary => ({
    approvalId: a.id, project: 'billing-bot', action: 'send_email', summary, risk: 'high', requestedBy: 'agent-7', payloadHash: a.payloadHash, approvalUrl: `${server.url}/approvals/${a.id}`, approvals: 0, required: 1,
  });
  const status = async (id: string) => ((await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as { status: string }).status;
  const unusedTokens = async () => (await server.services.db.withTables<InboxTables>().selectFrom('inbox_tokens').select('token_hash').where('purpose', '=', 'approval').where('used_at', 'is', null).execute()).length;

  /** Emails alice about `a` and returns the link of her message. */
  const emailAlice = async (a: { id: string; payloadHash: string }, summary = 'Send the reply') => {
    await channel.notify({ kind: 'needs-review', approval: summaryOf(a, summary), recipients: [{ person: 'alice', address: 'alice@acme.example' }], tier: 0 });
    const mail = await smtp.waitFor('alice@acme.example', (m) => (m.text ?? '').includes(a.id));
    return { mail, link: linkIn(mail, `${server.services.config.publicUrl}/approvals/${a.id}?t=`) };
  };

  it('sends text and HTML with the summary, risk, payload hash and a link; agent text is escaped in the HTML', async () => {
    const a = await request({ summary: '<img src=x onerror=alert(1)> urgent' });
    const { mail, link } = await emailAlice(a, '<img src=x onerror=alert(1)> urgent');
    expect(mail.from?.value[0]).toMatchObject({ name: 'Countersign', address: 'countersign@acme.example' });
    expect(mail.subject).toBe('[Countersign] high risk: <img src=x onerror=alert(1)> urgent');
    expect(mail.text).toContain(`Payload hash: ${a.payloadHash}`);
    expect(mail.text).toContain('Risk: high');
    expect(mail.html).toBeTruthy();
    expect(mail.html as string).not.toContain('<img');
    expect(mail.html as string).toContain('&lt;img src=x onerror=alert(1)&gt; urgent');
    expect(mail.html as string).toContain(`href="${link}"`);
  });

  it("a link scanner's GETs decide nothing and use nothing up; the page's POST decides, once", async () => {
    const a = await request();
    const { link } = await emailAlice(a);
    const before = await unusedTokens();
    // A scanner fetches the link (twice, from another client), with no cookies.
    for (const scanner of [pageClient(server.url), pageClient(server.url)]) {
      const seen = await scanner.get(link);
      expect(seen.status).toBe(200);
      expect(seen.html).toContain('name="outcome" value="approve"');
    }
    expect(await status(a.id)).toBe('pending');
    expect(await unusedTokens()).toBe(before);

    const alice = pageClient(server.url);
    const page = await alice.get(link);
    const t = hiddenField(page.html, 't');
    const decided = await alice.post(`/approvals/${a.id}/decision`, { t, outcome: 'approve', payloadHash: a.payloadHash, reason: 'from email' });
    expect(decided.status).toBe(200);
    expect(decided.html).toContain('Approved');
    expect(await status(a.id)).toBe('approved');
    const votes = await server.services.db.selectFrom('decision_votes').select(['reviewer', 'via']).where('approval_id', '=', a.id).execute();
    expect(votes).toEqual([{ reviewer: 'alice', via: 'inbox' }]);

    // Used: the same token again is refused, and the link now shows nothing.
    const reused = await alice.post(`/approvals/${a.id}/decision`, { t, outcome: 'reject', payloadHash: a.payloadHash, reason: 'again' });
    expect(reused.status).toBe(403);
    expect((await pageClient(server.url).get(link)).status).toBe(401);
  });

  it('a token decides only its own approval and payload, and not after it expired', async () => {
    const a = await request();
    const b = await request({ summary: 'Another one' });
    const { link } = await emailAlice(a);
    const t = new URL(link).searchParams.get('t')!;
    const other = await pageClient(server.url).post(`/approvals/${b.id}/decision`, { t, outcome: 'approve', payloadHash: b.payloadHash, reason: '' });
    expect(other.status).toBe(403);
    const changed = await pageClient(server.url).post(`/approvals/${a.id}/decision`, { t, outcome: 'approve', payloadHash: b.payloadHash === a.payloadHash ? 'sha256:x' : b.payloadHash, reason: '' });
    expect(changed.html).toContain('The request changed');
    expect(await status(a.id)).toBe('pending');
    expect(await status(b.id)).toBe('pending');

    await server.services.db.withTables<InboxTables>().updateTable('inbox_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('approval_id', '=', a.id).execute();
    expect((await pageClient(server.url).get(link)).status).toBe(401);
    const expired = await pageClient(server.url).post(`/approvals/${a.id}/decision`, { t, outcome: 'approve', payloadHash: a.payloadHash, reason: '' });
    expect(expired.status).toBe(403);
    expect(await status(a.id)).toBe('pending');
  });

  it('a failed send throws, so the job that called it is retried', async () => {
    const a = await request();
    smtp.failNext(1);
    await expect(channel.notify({ kind: 'needs-review', approval: summaryOf(a, 'Send the reply'), recipients: [{ person: 'alice', address: 'alice@acme.example' }], tier: 0 })).rejects.toThrow(/sending email failed/);
    expect(await status(a.id)).toBe('pending');
  });
});
