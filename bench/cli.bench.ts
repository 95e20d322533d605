/**
 * How long the CLI and the server take to start, on the embedded default (PGlite), each next
 * to `node -e 0` measured in the same rounds (so a loaded machine shows in both):
 *
 * - `countersign --help` (target: ≤ 2× `node -e 0`), and `--version`;
 * - `decide`, `keys create`, `projects list` against a running server (target: ≤ 300 ms
 *   median), which hands them to the server over its admin socket;
 * - restart to `/readyz` (target ≤ 2 s) and first start on an empty data directory (≤ 5 s).
 *
 * Every child runs on the Node that runs the bench (`npm run bench` puts the project's Node
 * first on PATH), with the real `bin/countersign.js`, as `npx countersign` would.
 *
 *   npm run bench -- cli
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { percentile } from './bench-server.ts';

const RUNS = 20;
const RESTARTS = 5;
const FIRST_STARTS = 3;
const PORT = 18_191;
const BIN = path.resolve('bin/countersign.js');
const URL_BASE = `http://127.0.0.1:${PORT}`;

/** Runs one command to its end; returns the wall time in ms (and fails on a non-zero exit). */
function timed(args: string[], env: NodeJS.ProcessEnv, expectCode = 0): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code === expectCode) resolve({ ms, stdout });
      else reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

/** Spawns `countersign serve` and resolves once `/readyz` answers 200, with the time it took. */
async function startServer(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; ms: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [BIN, 'serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}`);
    const ready = await fetch(`${URL_BASE}/readyz`).then((r) => r.ok, () => false);
    if (ready) return { child, ms: performance.now() - started };
    if (Date.now() > deadline) throw new Error('serve did not become ready');
    // Short polls: the interval bounds how precisely readiness is timed.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(percentile(sorted, 50));
};

export async function run(): Promise<Record<string, unknown>> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-cli-bench-'));
  const env: NodeJS.ProcessEnv = { ...process.env, COUNTERSIGN_DATA_DIR: path.join(root, 'data'), PORT: String(PORT), LOG_LEVEL: 'warn' };
  delete env.DATABASE_URL;
  const mapping = path.join(root, 'mapping.yaml');
  await fs.writeFile(mapping, 'projects:\n  - key: bench\n    provider: local\n    reviewers: [alice]\n');
  const samples = { nodeE0: [] as number[], help: [] as number[], version: [] as number[], decide: [] as number[], keysCreate: [] as number[], projectsList: [] as number[] };
  const firstStarts: number[] = [];
  const restarts: number[] = [];
  let server: ChildProcess | undefined;
  try {
    // First starts, each on an empty data directory (migrations, key generation, pg-boss schema).
    for (let i = 0; i < FIRST_STARTS; i++) {
      await fs.rm(env.COUNTERSIGN_DATA_DIR!, { recursive: true, force: true });
      const started = await startServer(env);
      firstStarts.push(started.ms);
      server = started.child;
      if (i < FIRST_STARTS - 1) await stopServer(server);
    }

    await timed([BIN, 'projects', 'apply', mapping], env);
    const agent = JSON.parse((await timed([BIN, 'keys', 'create', '--name', 'bench-agent', '--scopes', 'intake,read', '--json'], env)).stdout) as { key: string };
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const response = await fetch(`${URL_BASE}/v1/approvals`, {
        method: 'POST',
        headers: { authorization: `Bearer ${agent.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ project: 'bench', action: 'deploy', summary: `bench ${i}` }),
      });
      ids.push(((await response.json()) as { id: string }).id);
    }

    // One warm-up round (disk cache), then interleaved rounds so drift hits every command alike.
    await timed(['-e', '0'], env);
    await timed([BIN, '--help'], env);
    for (let i = 0; i < RUNS; i++) {
      samples.nodeE0.push((await timed(['-e', '0'], env)).ms);
      samples.help.push((await timed([BIN, '--help'], env)).ms);
      samples.version.push((await timed([BIN, '--version'], env).catch(() => ({ ms: Number.NaN }))).ms);
      samples.projectsList.push((await timed([BIN, 'projects', 'list', '--json'], env)).ms);
      samples.keysCreate.push((await timed([BIN, 'keys', 'create', '--name', `k${i}`, '--scopes', 'read', '--json'], env)).ms);
      samples.decide.push((await timed([BIN, 'decide', ids[i]!, 'approve', '--as', 'alice', '--json'], env)).ms);
    }

    // Restarts on the same data directory: everything migrated, keys in place.
    for (let i = 0; i < RESTARTS; i++) {
      await stopServer(server!);
      const started = await startServer(env);
      restarts.push(started.ms);
      server = started.child;
    }
  } finally {
    if (server) await stopServer(server);
    await fs.rm(root, { recursive: true, force: true });
  }

  const nodeE0 = median(samples.nodeE0);
  const help = median(samples.help);
  return {
    node: process.version,
    runs: RUNS,
    medianMs: {
      nodeE0,
      help,
      version: samples.version.some(Number.isNaN) ? null : median(samples.version),
      decide: median(samples.decide),
      keysCreate: median(samples.keysCreate),
      projectsList: median(samples.projectsList),
      restartToReady: median(restarts),
      firstStartToReady: median(firstStarts),
    },
    helpToNodeE0: Number((help / nodeE0).toFixed(2)),
    restartsMs: restarts.map(Math.round),
    firstStartsMs: firstStarts.map(Math.round),
    targets: { helpToNodeE0: 2, commandMs: 300, restartMs: 2000, firstStartMs: 5000 },
  };
}
