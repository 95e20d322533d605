import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';

export interface BenchServer {
  readonly url: string;
  readonly pid: number;
  cli(args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const BIN = path.resolve('bin/countersign.js');

/**
 * Node flags for every bench server, e.g. `BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof'`
 * to profile a bench's server without editing it (space-separated; the CLI runs without them).
 */
const envNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);

/**
 * A real `countersign serve` in its own process, as deployed: the load generator must not
 * share the server's event loop, or it would measure itself.
 */
export async function startBenchServer(env: Record<string, string>, port: number, command: string[] = [BIN, 'serve'], options: { nodeFlags?: string[] } = {}): Promise<BenchServer> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-'));
  const fullEnv = { ...process.env, COUNTERSIGN_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', ...env };
  // nodeFlags: `--cpu-prof --cpu-prof-dir=…` profiles the server (written when it exits), `--import` loads a probe.
  const child: ChildProcess = spawn(process.execPath, [...envNodeArgs, ...(options.nodeFlags ?? []), ...command], { env: fullEnv, stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error('bench server did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    url,
    pid: child.pid!,
    cli: (args) =>
      new Promise((resolve, reject) => {
        const run = spawn(process.execPath, [BIN, ...args], { env: fullEnv, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        run.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        run.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`countersign ${args.join(' ')} exited ${code}`))));
      }),
    /** Idempotent: a bench may stop the server early to read what it wrote at exit. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates a project and an agent key on a running bench server. */
export async function prepareAgent(server: BenchServer, options: { callbackHosts?: string } = {}): Promise<{ key: string; webhookSecret: string; reviewerKey: string }> {
  const mapping = path.join(os.tmpdir(), `countersign-bench-${process.pid}.yaml`);
  // `bench-job`: the same, plus an escalation tier, so each intake also commits a job (its timer).
  await fs.writeFile(mapping, 'projects:\n  - key: bench\n    provider: local\n    reviewers: [alice]\n  - key: bench-job\n    provider: local\n    reviewers: [alice]\n    escalation:\n      - after: 24h\n        reviewers: [bob]\n');
  await server.cli(['projects', 'apply', mapping]);
  const agent = JSON.parse(
    await server.cli(['keys', 'create', '--name', 'bench-agent', '--scopes', 'intake,read', '--json', ...(options.callbackHosts ? ['--callback-hosts', options.callbackHosts] : [])]),
  ) as { key: string; webhookSecret: string };
  const reviewer = JSON.parse(await server.cli(['keys', 'create', '--name', 'alice', '--scopes', 'review', '--reviewer', 'alice', '--json'])) as { key: string };
  return { key: agent.key, webhookSecret: agent.webhookSecret, reviewerKey: reviewer.key };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const INTAKE_CONNECTIONS = 10;
export const INTAKE_SECONDS = 10;

const intakeBody = (project: string) => JSON.stringify({ project, action: 'send_email', summary: 'Send the drafted reply', payload: { to: 'ops@acme.example', body: 'x'.repeat(500) }, risk: 'low' });

/** The intake request every intake bench sends, as autocannon options; `bench-job` also commits a job with each. */
export function intakeRequest(server: Pick<BenchServer, 'url'>, key: string, project: 'bench' | 'bench-job' = 'bench') {
  return { url: `${server.url}/v1/approvals`, method: 'POST' as const, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: intakeBody(project) };
}

/** autocannon on `POST /v1/approvals`: as fast as it goes, or at `rate` requests per second overall. */
export async function loadIntake(server: Pick<BenchServer, 'url'>, key: string, options: { rate?: number; seconds?: number; connections?: number; project?: 'bench' | 'bench-job' }) {
  const result = await autocannon({
    ...intakeRequest(server, key, options.project),
    connections: options.connections ?? INTAKE_CONNECTIONS,
    duration: options.seconds ?? INTAKE_SECONDS,
    ...(options.rate ? { overallRate: options.rate } : {}),
  });
  return { rps: Math.round(result.requests.average), p50ms: result.latency.p50, p99ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors, requests: result.requests.total };
}
