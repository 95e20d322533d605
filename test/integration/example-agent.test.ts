import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiKey } from '../../src/keys/api-keys.ts';
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
    const child = spawn(process.execPath, ['examples/agent.ts', 'billing-bot'], {
      env: { ...process.env, COUNTERSIGN_URL: server.url, COUNTERSIGN_KEY: agentKey.key, COUNTERSIGN_WEBHOOK_SECRET: agentKey.webhookSecret },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

    await expect.poll(() => /requested (apr_\w+)/.exec(output)?.[1], { timeout: 20_000 }).toBeTruthy();
    const id = /requested (apr_\w+)/.exec(output)![1]!;
    expect(output).not.toContain('sending the email');

    const decision = await server.fetch(`/v1/approvals/${id}/decision`, { key: aliceKey, json: { outcome: 'approve' } });
    expect(decision.status).toBe(200);
    expect(await exited).toBe(0);
    expect(output).toContain('approved: sending the email to ops@acme.example');
  });
});
