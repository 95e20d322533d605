import fs from 'node:fs/promises';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSignInLink } from '../../src/inbox/sign-in.ts';
import { CHROMIUM, launchChromium } from '../helpers/browser.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const SCREENSHOTS = path.resolve('docs/screenshots');

describeEachDatabase(`web inbox in Chromium without JavaScript${CHROMIUM ? '' : ' (SKIPPED: no Chromium; apt-get install -y chromium)'}`, (database) => {
  let server: TestServer;
  let browser: Browser | undefined;
  let agentKey: string;

  beforeAll(async () => {
    if (!CHROMIUM) return;
    server = await startTestServer(database);
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'] }], [{ id: 'alice' }, { id: 'bob' }]);
    agentKey = await server.key({ scopes: ['intake', 'read'] });
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it.skipIf(!CHROMIUM)('signs in by link, sees the inbox, approves, and the agent’s long poll answers', async () => {
    const ask = async (summary: string, payload: unknown, risk = 'medium') => {
      const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project: 'billing-bot', action: 'send_email', summary, details: 'Reply to ticket #4411.\nThe customer asked for a refund.', payload, risk, requestedBy: 'agent-7' } });
      return (await response.json()) as { id: string; payloadHash: string };
    };
    await ask('Post the release notes to the blog', { title: 'v2.1', draft: false }, 'low');
    const { id, payloadHash } = await ask('Send the drafted reply to ACME', { to: 'ops@acme.example', subject: 'Your refund', body: 'Hello, your refund is on its way.' });
    const poll = server.fetch(`/v1/approvals/${id}?wait=60`, { key: agentKey });

    // No JavaScript at all: the pages must work as plain HTML forms (and CSP forbids script anyway).
    const context = await browser!.newContext({ javaScriptEnabled: false, viewport: { width: 1000, height: 900 } });
    const page = await context.newPage();
    const { url } = await createSignInLink(server.services, 'alice');
    await page.goto(`${server.url}${new URL(url).pathname}${new URL(url).search}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${server.url}/inbox`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Waiting for you');
    expect(await page.getByRole('link', { name: 'Send the drafted reply to ACME' }).count()).toBe(1);
    await fs.mkdir(SCREENSHOTS, { recursive: true });
    if (database.name === 'pglite') await page.screenshot({ path: path.join(SCREENSHOTS, 'inbox.png'), fullPage: true });

    await page.getByRole('link', { name: 'Send the drafted reply to ACME' }).click();
    await page.waitForURL(`${server.url}/approvals/${id}`);
    expect(await page.locator('main').textContent()).toContain(payloadHash);
    if (database.name === 'pglite') {
      await page.screenshot({ path: path.join(SCREENSHOTS, 'approval.png'), fullPage: true });
      const phone = await browser!.newContext({ javaScriptEnabled: false, viewport: { width: 390, height: 844 }, storageState: await context.storageState() });
      const small = await phone.newPage();
      await small.goto(`${server.url}/approvals/${id}`);
      await small.screenshot({ path: path.join(SCREENSHOTS, 'approval-phone.png'), fullPage: true });
      await phone.close();
    }

    await page.getByLabel(/Reason/).fill('Checked the recipient');
    await page.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => page.getByRole('status').first().textContent()).toContain('Approved: the decision is final');
    const answered = (await (await poll).json()) as { status: string; decision: { by: string[]; reason: string } };
    expect(answered.status).toBe('approved');
    expect(answered.decision).toMatchObject({ by: ['alice'], reason: 'Checked the recipient' });
    await context.close();
  }, 120_000);
});
