import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { ownCpuMs } from './process-cpu.ts';

const execFileAsync = promisify(execFile);

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

/**
 * Which program loads the server. wrk (C, one event loop per thread, like pgbench's client) when
 * it is installed (Debian: `apt-get install wrk`); autocannon otherwise, or with
 * BENCH_LOAD_GENERATOR=autocannon. autocannon runs in the bench's own Node process and costs the
 * 2 cores several times what wrk does per request: it is reported beside wrk, never instead.
 */
export type LoadGenerator = 'wrk' | 'autocannon';
export const LOAD_GENERATOR: LoadGenerator = process.env.BENCH_LOAD_GENERATOR === 'autocannon' || !wrkInstalled() ? 'autocannon' : 'wrk';

function wrkInstalled(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // wrk prints its usage and exits 1 for --version: installed all the same.
    return (error as { status?: unknown }).status === 1;
  }
}

export interface IntakeLoad {
  generator: LoadGenerator;
  rps: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  non2xx: number;
  errors: number;
  requests: number;
  /** CPU the load generator itself used per request, on the same 2 cores as the server and the database. */
  loadGeneratorCpuMs: number;
}

/**
 * `POST /v1/approvals` as fast as it goes (`generator`, default LOAD_GENERATOR), or at `rate`
 * requests per second overall (autocannon: wrk has no fixed rate).
 */
export async function loadIntake(server: Pick<BenchServer, 'url'>, key: string, options: { rate?: number; seconds?: number; connections?: number; project?: 'bench' | 'bench-job'; generator?: LoadGenerator }): Promise<IntakeLoad> {
  const generator = options.rate ? 'autocannon' : (options.generator ?? LOAD_GENERATOR);
  const request = intakeRequest(server, key, options.project);
  const connections = options.connections ?? INTAKE_CONNECTIONS;
  const seconds = options.seconds ?? INTAKE_SECONDS;
  const before = ownCpuMs();
  if (generator === 'wrk') {
    const load = await runWrk(request, connections, seconds);
    return { ...load, loadGeneratorCpuMs: perRequest(ownCpuMs().children - before.children, load.requests) };
  }
  const result = await autocannon({ ...request, connections, duration: seconds, ...(options.rate ? { overallRate: options.rate } : {}) });
  const requests = result.requests.total;
  return {
    generator,
    rps: Math.round(result.requests.average),
    p50ms: result.latency.p50,
    p90ms: result.latency.p90,
    p99ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    requests,
    // autocannon runs in this process: all its CPU meanwhile is the load generator's.
    loadGeneratorCpuMs: perRequest(ownCpuMs().self - before.self, requests),
  };
}

const perRequest = (ms: number, requests: number) => Number((ms / requests).toFixed(3));

/** wrk with a Lua script for the POST body and headers, 2 threads (the cores), its latency percentiles read from `--latency`. */
async function runWrk(request: ReturnType<typeof intakeRequest>, connections: number, seconds: number): Promise<Omit<IntakeLoad, 'loadGeneratorCpuMs'>> {
  const script = path.join(os.tmpdir(), `countersign-wrk-${process.pid}-${Math.random().toString(36).slice(2)}.lua`);
  const headers = Object.entries(request.headers).map(([name, value]) => `wrk.headers[${JSON.stringify(name)}] = ${JSON.stringify(value)}`);
  // JSON string literals are Lua string literals too (the body is ASCII).
  await fs.writeFile(script, [`wrk.method = ${JSON.stringify(request.method)}`, `wrk.body = ${JSON.stringify(request.body)}`, ...headers, ''].join('\n'));
  try {
    const threads = Math.min(2, connections);
    const { stdout } = await execFileAsync('wrk', ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--latency', '-s', script, request.url]);
    return parseWrk(stdout);
  } finally {
    await fs.rm(script, { force: true });
  }
}

function parseWrk(out: string): Omit<IntakeLoad, 'loadGeneratorCpuMs'> {
  const ms = (value: string, unit: string) => Number(value) * (unit === 'us' ? 0.001 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 1);
  const latency = (p: number) => {
    const match = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s|m)\\b`).exec(out);
    return match ? Number(ms(match[1]!, match[2]!).toFixed(3)) : Number.NaN;
  };
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    generator: 'wrk',
    rps: Math.round(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN)),
    p50ms: latency(50),
    p90ms: latency(90),
    p99ms: latency(99),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
    errors: socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
    requests,
  };
}
