import { afterAll, beforeAll, expect, it } from 'vitest';
import { SIGN_IN_LIMITS } from '../../src/inbox/sign-in.ts';
import { hiddenField, pageClient } from '../helpers/browser.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startSmtpStand, type SmtpStand } from '../helpers/smtp-stand.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

/** Asks for sign-in links from one "client" as the server sees it, each for a different address (so only the per-client limit applies). */
async function askForLinks(server: TestServer, count: number, forwardedFor?: string): Promise<number[]> {
  const client = pageClient(server.url);
  const csrf = hiddenField((await client.get('/login')).html, 'csrf');
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const headers = forwardedFor ? { 'x-forwarded-for': forwardedFor } : undefined;
    statuses.push((await client.post('/login', { csrf, email: `someone-${crypto.randomUUID()}@acme.example` }, headers)).status);
  }
  return statuses;
}

describeEachDatabase('TRUSTED_PROXIES: per-client limits behind a reverse proxy', (database) => {
  let smtp: SmtpStand;
  let direct: TestServer;
  let proxied: TestServer;

  beforeAll(async () => {
    // Signing in by email needs SMTP; the links go to nobody (no address is a reviewer's).
    smtp = await startSmtpStand();
    const env = { SMTP_URL: smtp.url, EMAIL_FROM: 'Countersign <countersign@acme.example>' };
    direct = await startTestServer(database, { env });
    proxied = await startTestServer(database, { env: { ...env, TRUSTED_PROXIES: '1' } });
  });
  afterAll(async () => {
    await direct?.close();
    await proxied?.close();
    await smtp?.close();
  });

  it('without it, X-Forwarded-For is ignored: a client cannot reset its limit by sending one', async () => {
    const first = await askForLinks(direct, SIGN_IN_LIMITS.perClient, '10.0.0.1');
    expect(first.every((status) => status === 200)).toBe(true);
    expect(await askForLinks(direct, 1, '10.0.0.2')).toEqual([429]);
  });

  it('with one proxy, each address the proxy appended has its own limit, and an entry the client wrote itself changes nothing', async () => {
    const alice = await askForLinks(proxied, SIGN_IN_LIMITS.perClient, '203.0.113.7');
    expect(alice.every((status) => status === 200)).toBe(true);
    expect(await askForLinks(proxied, 1, '203.0.113.7')).toEqual([429]);
    // The client's own "X-Forwarded-For: 198.51.100.1" arrives with the proxy's entry appended after it.
    expect(await askForLinks(proxied, 1, '198.51.100.1, 203.0.113.7')).toEqual([429]);
    // Someone else behind the same proxy is not locked out.
    expect(await askForLinks(proxied, 1, '203.0.113.8')).toEqual([200]);
  });
});
