import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { lockFilePath } from '../../src/db/data-dir-lock.ts';
import { adminSocketPath } from '../../src/server/admin-socket.ts';
import { countersign, exited, freePort, startServe, type ServeProcess } from '../helpers/countersign-process.ts';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startHoldingProxy, type HoldingProxy } from '../helpers/holding-proxy.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'crash-webhook-secret';

describe('countersign serve killed with SIGKILL on the embedded database', () => {
  let dir: string;
  let env: Record<string, string>;
  let fake: FakeGitHub;
  let proxy: HoldingProxy;
  let server: ServeProcess | undefined;
  let agentKey: string;
  let approvalId: string;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-crash-serve-'));
    fake = await startFakeGitHub({ secret: SECRET, token: 'ghp_good' });
    proxy = await startHoldingProxy(fake.url);
    env = { COUNTERSIGN_DATA_DIR: path.join(dir, 'data'), GITHUB_TOKEN: 'ghp_good', GITHUB_API_URL: proxy.url, GITHUB_WEBHOOK_SECRET: SECRET };
    await fs.writeFile(path.join(dir, 'mapping.yaml'), `projects:\n  - key: billing-bot\n    provider: github\n    github: { owner: ${fake.owner}, repo: ${fake.repo} }\n    reviewers: [alice]\n`);
  });
  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGKILL');
      await exited(server.child);
    }
    await proxy?.stop();
    await fake?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('restarts at once and retries the ticket job that was running, without waiting for its expiry', async () => {
    server = await startServe({ cwd: dir, env, port: await freePort() });
    expect((await countersign(['projects', 'apply', 'mapping.yaml'], { cwd: dir, env })).code).toBe(0);
    const created = await countersign(['keys', 'create', '--name', 'agent', '--scopes', 'intake,read', '--json'], { cwd: dir, env });
    agentKey = (JSON.parse(created.stdout) as { key: string }).key;
    const intake = await fetch(`${server.url}/v1/approvals`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ project: 'billing-bot', action: 'deploy', summary: 'Ship it' }),
    });
    expect(intake.status).toBe(202);
    approvalId = ((await intake.json()) as { id: string }).id;
    // The ticket job is now inside its GitHub call, which never answers.
    await proxy.held;

    server.child.kill('SIGKILL');
    await exited(server.child);
    // What the dead server left behind: its lock (naming a dead pid) and its admin socket.
    const lock = JSON.parse(await fs.readFile(lockFilePath(env.COUNTERSIGN_DATA_DIR!), 'utf8')) as { pid: number };
    expect(lock.pid).toBe(server.child.pid);
    await expect(fs.stat(adminSocketPath(env.COUNTERSIGN_DATA_DIR!))).resolves.toBeTruthy();

    proxy.holding = false;
    // The restart puts the dead process's job back (and says so); pg-boss's own recovery, the
    // job's expiry, would take 120 s from its start plus up to one maintenance interval.
    server = await startServe({ cwd: dir, env, port: await freePort() });
    const ready = server;
    const approval = await until(
      async () => (await (await fetch(`${ready.url}/v1/approvals/${approvalId}`, { headers: { authorization: `Bearer ${agentKey}` } })).json()) as ApprovalView,
      (view) => view.ticket !== null,
      60_000,
    );
    expect(approval.ticket).toMatchObject({ provider: 'github' });
    // pg-boss's own send-it job may have been running too; the ticket job must be among those retried.
    expect(ready.log()).toMatch(/"jobs":\d+,"queues":\[[^\]]*"ticket-create"[^\]]*\][^\n]*jobs left running by a stopped process are retried now/);
    expect(proxy.creates).toBe(2);
    // One issue: the retry looked for the one the killed attempt might have opened first.
    expect(fake.issues.size).toBe(1);
  }, 240_000);

  it('refuses a second server on the same data directory with one line naming the live pid', async () => {
    const second = await countersign(['serve'], { cwd: dir, env: { ...env, PORT: '0' } });
    expect(second.code).toBe(1);
    expect(second.stderr).toBe(`countersign: the embedded database in ${env.COUNTERSIGN_DATA_DIR} is in use by countersign process ${server!.child.pid}\n`);
  }, 60_000);

  it('lets the CLI open the data directory at once after a SIGKILL, despite the stale admin socket', async () => {
    server!.child.kill('SIGKILL');
    await exited(server!.child);
    await expect(fs.stat(adminSocketPath(env.COUNTERSIGN_DATA_DIR!))).resolves.toBeTruthy();
    const listed = await countersign(['projects', 'list', '--json'], { cwd: dir, env });
    // The stale socket is not taken for a server: the CLI says it opens the directory itself.
    expect(listed.stderr).toBe(`countersign: no server is running on ${env.COUNTERSIGN_DATA_DIR!}; using its embedded database directly\n`);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { projects: { key: string }[] }).projects.map((p) => p.key)).toEqual(['billing-bot']);
    // The CLI let go of the directory when it finished.
    await expect(fs.stat(lockFilePath(env.COUNTERSIGN_DATA_DIR!))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);
});
