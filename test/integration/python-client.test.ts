import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { startProcess } from '../helpers/countersign-process.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const PYTHON_CLIENT = fileURLToPath(new URL('../../clients/python', import.meta.url));

/** The machine's python3 and its version, or why there is none. */
const python = spawnSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
const pythonVersion = python.status === 0 ? python.stdout.trim() : undefined;
if (!pythonVersion) console.warn(`\n  python3 is not installed: the Python client's tests (clients/python/tests) are SKIPPED\n`);

describeEachDatabase('the Python client (clients/python), its unittest suite against a real server', (database) => {
  let server: TestServer;
  let env: Record<string, string>;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice'], allowEdits: true }]);
    const agent = await createApiKey(server.services, { name: 'python-agent', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    env = {
      COUNTERSIGN_URL: server.url,
      COUNTERSIGN_KEY: agent.key,
      COUNTERSIGN_WEBHOOK_SECRET: agent.webhookSecret,
      COUNTERSIGN_READ_KEY: await server.key({ scopes: ['read'] }),
      COUNTERSIGN_REVIEW_KEY: await server.key({ scopes: ['review'], reviewer: 'alice' }),
      COUNTERSIGN_PROJECT: 'billing-bot',
    };
  });
  afterAll(() => server?.close());

  it.skipIf(!pythonVersion)(`passes with python3 ${pythonVersion ?? '(missing)'}, standard library only`, async () => {
    // -I: isolated (no user site-packages, no PYTHON* setting of the machine); -B: no __pycache__ left in the tree.
    const run = startProcess('python3', ['-I', '-B', '-m', 'unittest', 'discover', '-s', 'tests', '-t', '.', '-v'], { cwd: PYTHON_CLIENT, env: { ...process.env, ...env } });
    const code = await run.exited;
    expect(run.output(), run.output()).toMatch(/\nOK( \(skipped=\d+\))?\n/);
    expect(code).toBe(0);
    expect(run.output()).toMatch(/^Ran \d+ tests/m);
  }, 120_000);

  it.skipIf(!pythonVersion)('runs examples/python_agent.py: it acts only after a reviewer approves, on a verified callback', async () => {
    const agent = startProcess('python3', ['-I', '-B', 'examples/python_agent.py', 'billing-bot'], { env: { ...process.env, ...env } });
    await expect.poll(() => /requested (apr_\w+)/.exec(agent.output())?.[1], { timeout: 20_000 }).toBeTruthy();
    const id = /requested (apr_\w+)/.exec(agent.output())![1]!;
    expect(agent.output()).not.toContain('sending the email');

    const decision = await server.fetch(`/v1/approvals/${id}/decision`, { key: env.COUNTERSIGN_REVIEW_KEY!, json: { outcome: 'approve' } });
    expect(decision.status).toBe(200);
    expect(await agent.exited, agent.output()).toBe(0);
    expect(agent.output()).toContain('approved: sending the email to ops@acme.example');
    expect(agent.output()).toMatch(/callback msg_\w+: approved/);
  }, 60_000);
});
