import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startFakeJira, type FakeJira } from '../helpers/fake-jira.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const githubSignature = (body: string, secret: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

/**
 * Rotating a webhook secret without losing deliveries: set the new secret on the server with
 * the old one as `…_WEBHOOK_SECRET_PREVIOUS`, then on GitHub / Jira; deliveries signed with
 * either are taken, with anything else refused.
 */
describeEachDatabase('webhook secret rotation', (database) => {
  let github: FakeGitHub;
  let jira: FakeJira;
  let server: TestServer;

  beforeAll(async () => {
    github = await startFakeGitHub({ secret: 'github-old' });
    jira = await startFakeJira({ secret: 'jira-old' });
    server = await startTestServer(database, {
      env: {
        GITHUB_TOKEN: 'ghp_test',
        GITHUB_API_URL: github.url,
        GITHUB_WEBHOOK_SECRET: 'github-new',
        GITHUB_WEBHOOK_SECRET_PREVIOUS: 'github-old',
        JIRA_HOST: jira.url,
        JIRA_EMAIL: jira.email,
        JIRA_API_TOKEN: jira.apiToken,
        JIRA_WEBHOOK_SECRET: 'jira-new',
        JIRA_WEBHOOK_SECRET_PREVIOUS: 'jira-old',
      },
    });
  });
  afterAll(async () => {
    await server?.close();
    await github?.stop();
    await jira?.stop();
  });

  it('takes GitHub deliveries signed with the new or the previous secret, and refuses any other', async () => {
    const delivery = github.foreignLabel('alice', 'approved');
    const post = (secret: string, id: string) =>
      server.fetch('/webhooks/github', {
        method: 'POST',
        body: delivery.body,
        headers: { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': id, 'x-hub-signature-256': githubSignature(delivery.body, secret) },
      });
    expect((await post('github-old', 'd-old')).status).toBe(202);
    expect((await post('github-new', 'd-new')).status).toBe(202);
    expect((await post('github-stranger', 'd-stranger')).status).toBe(401);
  });

  it('takes Jira deliveries signed with the new or the previous secret, and refuses any other', async () => {
    const { key } = await (async () => {
      // Any issue the fake knows will do: the delivery is about an issue Countersign did not open.
      const response = await fetch(`${jira.url}/rest/api/3/issue`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${jira.email}:${jira.apiToken}`).toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ fields: { project: { key: 'OPS' }, issuetype: { name: 'Task' }, summary: 'someone else’s', labels: ['other'] } }),
      });
      return (await response.json()) as { key: string };
    })();
    const delivery = jira.comment(key, 'hello', 'someone');
    const post = (secret: string) => server.fetch('/webhooks/jira', { method: 'POST', body: delivery.body, headers: jira.headers(delivery, secret) });
    expect((await post('jira-old')).status).toBe(202);
    expect((await post('jira-new')).status).toBe(202);
    expect((await post('jira-stranger')).status).toBe(401);
  });
});
