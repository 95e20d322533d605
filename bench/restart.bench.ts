/**
 * Crash and start-up times of the real `countersign serve` (`npm run bench -- restart`):
 *
 * - an embedded server is SIGKILLed while a ticket job is inside its GitHub call; the bench
 *   restarts it at once and measures restart → ready (`/readyz` 200) and restart → the job's
 *   retry reaching GitHub (before the lock knew its owner this was a refusal for 15 s, and the
 *   job waited for its 120 s expiry);
 * - how long `serve` takes to fail on a taken port, a refused DATABASE_URL and a silent one;
 * - for scale, the bare start of the executable (`countersign --help`): on a loaded machine most
 *   of every number above is this.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { BIN, cleanEnv, countersign, exited, freePort } from '../test/helpers/countersign-process.ts';
import { startFakeGitHub } from '../test/helpers/fake-github.ts';
import { startHoldingProxy } from '../test/helpers/holding-proxy.ts';

const SECRET = 'bench-webhook-secret';
const ROUNDS = 3;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const ms = (since: number) => Math.round(performance.now() - since);

async function pollUntil(check: () => Promise<boolean> | boolean, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function spawnServe(cwd: string, env: Record<string, string>, port: number) {
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd, env: cleanEnv({ ...env, PORT: String(port) }), stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr.resume();
  const url = `http://127.0.0.1:${port}`;
  await pollUntil(async () => {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}`);
    return fetch(`${url}/readyz`).then((r) => r.ok, () => false);
  });
  return { child, url };
}

/** One kill -9 and restart; times in ms from the restart's spawn. */
async function crashRound(): Promise<{ restartToReadyMs: number; restartToRetryMs: number; readyToRetryMs: number }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-restart-'));
  const fake = await startFakeGitHub({ secret: SECRET, token: 'ghp_bench' });
  const proxy = await startHoldingProxy(fake.url);
  const env = { COUNTERSIGN_DATA_DIR: path.join(dir, 'data'), GITHUB_TOKEN: 'ghp_bench', GITHUB_API_URL: proxy.url, GITHUB_WEBHOOK_SECRET: SECRET };
  try {
    await fs.writeFile(path.join(dir, 'mapping.yaml'), `projects:\n  - key: bench\n    provider: github\n    github: { owner: ${fake.owner}, repo: ${fake.repo} }\n    reviewers: [alice]\n`);
    let server = await spawnServe(dir, env, await freePort());
    await countersign(['projects', 'apply', 'mapping.yaml'], { cwd: dir, env });
    const key = (JSON.parse((await countersign(['keys', 'create', '--name', 'agent', '--scopes', 'intake,read', '--json'], { cwd: dir, env })).stdout) as { key: string }).key;
    const intake = await fetch(`${server.url}/v1/approvals`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ project: 'bench', action: 'deploy', summary: 'Ship it' }) });
    if (intake.status !== 202) throw new Error(`intake answered ${intake.status}`);
    await proxy.held;
    server.child.kill('SIGKILL');
    await exited(server.child);
    proxy.holding = false;

    const restarted = performance.now();
    const retried = pollUntil(() => proxy.creates >= 2).then(() => ms(restarted));
    server = await spawnServe(dir, env, await freePort());
    const restartToReadyMs = ms(restarted);
    const restartToRetryMs = await retried;
    server.child.kill('SIGTERM');
    await exited(server.child);
    return { restartToReadyMs, restartToRetryMs, readyToRetryMs: restartToRetryMs - restartToReadyMs };
  } finally {
    await proxy.stop();
    await fake.stop();
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Spawn → exit of a `serve` that cannot start, in ms, and its exit code. */
async function failTime(env: Record<string, string>): Promise<{ ms: number; code: number | null }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-fail-'));
  try {
    const started = performance.now();
    const run = await countersign(['serve'], { cwd: dir, env: { COUNTERSIGN_DATA_DIR: path.join(dir, 'data'), ...env } });
    return { ms: ms(started), code: run.code };
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const bare: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const started = performance.now();
    await countersign(['--help'], { cwd: os.tmpdir(), env: {} });
    bare.push(ms(started));
  }

  const rounds = [];
  for (let i = 0; i < ROUNDS; i++) rounds.push(await crashRound());

  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const silent = net.createServer(() => undefined);
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const fails: Record<string, { ms: number; code: number | null }[]> = { portTaken: [], databaseRefused: [], databaseSilent: [] };
  try {
    for (let i = 0; i < ROUNDS; i++) {
      fails.portTaken!.push(await failTime({ PORT: String((taken.address() as net.AddressInfo).port) }));
      fails.databaseRefused!.push(await failTime({ PORT: '0', DATABASE_URL: `postgres://bench:pw@127.0.0.1:${await freePort()}/bench` }));
      fails.databaseSilent!.push(await failTime({ PORT: '0', DATABASE_URL: `postgres://bench:pw@127.0.0.1:${(silent.address() as net.AddressInfo).port}/bench` }));
    }
  } finally {
    taken.close();
    silent.close();
  }

  return {
    rounds: ROUNDS,
    bareStartMs: { median: median(bare), all: bare },
    restartToReadyMs: { median: median(rounds.map((r) => r.restartToReadyMs)), all: rounds.map((r) => r.restartToReadyMs) },
    restartToJobRetriedMs: { median: median(rounds.map((r) => r.restartToRetryMs)), all: rounds.map((r) => r.restartToRetryMs) },
    readyToJobRetriedMs: { median: median(rounds.map((r) => r.readyToRetryMs)), all: rounds.map((r) => r.readyToRetryMs) },
    serveFailsMs: Object.fromEntries(Object.entries(fails).map(([name, runs]) => [name, { median: median(runs.map((r) => r.ms)), all: runs.map((r) => r.ms), exitCodes: [...new Set(runs.map((r) => r.code))] }])),
  };
}
