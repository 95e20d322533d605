import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/config/logger.ts';
import { createGitHubClient } from '../../src/providers/github/github-client.ts';
import { createJiraClient } from '../../src/providers/jira/jira-client.ts';

/**
 * Found by the soak (issue 19, fault provider-hang): a provider that takes a request and never
 * answers held the job calling it, and pg-boss's worker with it, for as long as the socket stayed
 * open. Each request now has a deadline and fails like a network error, so the job is retried.
 */
describe('a provider that never answers', () => {
  let server: http.Server;
  let url: string;
  let held = 0;

  beforeAll(async () => {
    server = http.createServer((req) => {
      held += 1;
      req.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('fails a GitHub request at its deadline', async () => {
    const client = createGitHubClient({ apiUrl: url, webhookSecret: 'unused', token: 'ghp_test' }, { logger: createLogger('silent'), writeIntervalMs: 0, requestTimeoutMs: 300 });
    const before = held;
    const started = Date.now();
    // One try (no plugin-retry), so the test sees the deadline itself.
    await expect(client.request('POST /repos/{owner}/{repo}/issues', { owner: 'acme', repo: 'approvals', title: 'Ship it', request: { retries: 0 } })).rejects.toThrow();
    expect(held).toBe(before + 1);
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('fails a Jira request at its deadline', async () => {
    const client = createJiraClient({ host: url, email: 'bot@acme.example', apiToken: 'token', webhookSecret: 'unused' }, { logger: createLogger('silent'), requestTimeoutMs: 300 });
    const before = held;
    const started = Date.now();
    await expect(client.myself.getCurrentUser()).rejects.toThrow();
    expect(held).toBe(before + 1);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
