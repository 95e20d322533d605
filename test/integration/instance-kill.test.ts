import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { countersign, exited, freePort, startServe, type ServeProcess } from '../helpers/countersign-process.ts';
import { postgresDatabase, postgresUrl } from '../helpers/databases.ts';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startHoldingProxy, type HoldingProxy } from '../helpers/holding-proxy.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'kill-webhook-secret';

// Found by the soak (issue 19). PGlite is one process's database and has its own restart recovery (serve-crash.test.ts).
describe.skipIf(!postgresUrl)('an instance killed on a shared PostgreSQL', () => {
  let dir: string;
  let env: Record<string, string>;
  let fake: FakeGitHub;
  let proxy: HoldingProxy;
  let dispose: () => Promise<void>;
  const servers: ServeProcess[] = [];

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-instance-kill-'));
    fake = await startFakeGitHub({ secret: SECRET });
    proxy = await startHoldingProxy(fake.url);
    const created = await postgresDatabase(postgresUrl!).create();
    dispose = created.dispose;
    const url = created.target.kind === 'postgres' ? created.target.url : '';
    env = { DATABASE_URL: url, GITHUB_TOKEN: 'ghp_test', GITHUB_API_URL: proxy.url, GITHUB_WEBHOOK_SECRET: SECRET, COUNTERSIGN_DATA_DIR: path.join(dir, 'data') };
    await fs.writeFile(path.join(dir, 'mapping.yaml'), `projects:\n  - key: billing-bot\n    provider: github\n    github: { owner: ${fake.owner}, repo: ${fake.repo} }\n    reviewers: [alice]\n`);
  });
  afterAll(async () => {
    for (const server of servers) {
      if (server.child.exitCode === null && server.child.signalCode === null) {
        server.child.kill('SIGKILL');
        await exited(server.child);
      }
    }
    await proxy?.stop();
    await fake?.stop();
    await dispose?.();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("has the other instance retry the ticket job the killed one was running, long before the job's 120 s expiry", async () => {
    const a = await startServe({ cwd: dir, env: { ...env, COUNTERSIGN_DATA_DIR: path.join(dir, 'a') }, port: await freePort() });
    servers.push(a);
    const b = await startServe({ cwd: dir, env: { ...env, COUNTERSIGN_DATA_DIR: path.join(dir, 'b') }, port: await freePort() });
    servers.push(b);
    expect((await countersign(['projects', 'apply', 'mapping.yaml'], { cwd: dir, env })).code).toBe(0);
    const agentKey = (JSON.parse((await countersign(['keys', 'create', '--name', 'agent', '--scopes', 'intake,read', '--json'], { cwd: dir, env })).stdout) as { key: string }).key;
    const intake = await fetch(`${a.url}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ project: 'billing-bot', action: 'deploy', summary: 'Ship it' }),
    });
    expect(intake.status).toBe(202);
    const { id } = (await intake.json()) as { id: string };
    // Instance A sent the job, so A runs it: it is inside its GitHub call, which never answers.
    await proxy.held;
    a.child.kill('SIGKILL');
    await exited(a.child);
    proxy.holding = false;

    // Before heartbeats the job stayed `active` until its expiry (120 s after it started) plus a
    // maintenance pass, and B found the retry only at its next 60 s poll: over 2.5 min.
    const approval = await until(
      async () => (await (await fetch(`${b.url}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${agentKey}` } })).json()) as ApprovalView,
      (view) => view.ticket !== null,
      90_000,
    );
    expect(approval.ticket).toMatchObject({ provider: 'github' });
    // One issue: the retry looked for the one the killed attempt might have opened.
    expect(fake.issues.size).toBe(1);
  }, 180_000);
});
