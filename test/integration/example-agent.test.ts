import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { startProcess } from '../helpers/countersign-process.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

describeEachDatabase('the example agent in examples/', (database) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice'] }]);
  });
  afterAll(() => server?.close());

  it('acts only after a reviewer approves, on a verified callback', async () => {
    const agentKey = await createApiKey(server.services, { name: 'example', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    const aliceKey = await server.key({ scopes: ['review'], reviewer: 'alice' });
    const agent = startProcess(process.execPath, ['examples/agent.ts', 'billing-bot'], {
      env: { ...process.env, COUNTERSIGN_URL: server.url, COUNTERSIGN_KEY: agentKey.key, COUNTERSIGN_WEBHOOK_SECRET: agentKey.webhookSecret },
    });

    await expect.poll(() => /requested (apr_\w+)/.exec(agent.output())?.[1], { timeout: 20_000 }).toBeTruthy();
    const id = /requested (apr_\w+)/.exec(agent.output())![1]!;
    expect(agent.output()).not.toContain('sending the email');

    const decision = await server.fetch(`/v1/approvals/${id}/decision`, { key: aliceKey, json: { outcome: 'approve' } });
    expect(decision.status).toBe(200);
    expect(await agent.exited).toBe(0);
    expect(agent.output()).toContain('approved: sending the email to ops@acme.example');
  });
});
