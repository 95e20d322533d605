import { execFileSync } from 'node:child_process';
import autocannon from 'autocannon';
import pg from 'pg';
import { prepareAgent, startBenchServer, type BenchServer } from './bench-server.ts';

const CONNECTIONS = 10;
const DURATION_S = 10;

const body = JSON.stringify({ project: 'bench', action: 'send_email', summary: 'Send the drafted reply', payload: { to: 'ops@acme.example', body: 'x'.repeat(500) }, risk: 'low' });

async function load(server: BenchServer, key: string, options: { rate?: number }) {
  const result = await autocannon({
    url: `${server.url}/v1/approvals`,
    method: 'POST',
    connections: CONNECTIONS,
    duration: DURATION_S,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body,
    ...(options.rate ? { overallRate: options.rate } : {}),
  });
  return { rps: Math.round(result.requests.average), p50ms: result.latency.p50, p99ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

async function measureIntake(env: Record<string, string>, port: number) {
  const server = await startBenchServer(env, port);
  try {
    const { key } = await prepareAgent(server);
    await load(server, key, { rate: 50 }); // warm-up: JIT, pools, pg-boss queues
    const max = await load(server, key, {});
    const at200 = await load(server, key, { rate: 200 });
    return { max, at200 };
  } finally {
    await server.stop();
  }
}

/** pgbench's TPC-B-like script with the same client count: the reference for one durable commit per request. */
function pgbenchTps(url: string): number {
  const u = new URL(url);
  const args = ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres')];
  const db = u.pathname.slice(1);
  execFileSync('pgbench', [...args, '-i', '-q', '-s', '1', db], { stdio: 'ignore' });
  const out = execFileSync('pgbench', [...args, '-c', String(CONNECTIONS), '-j', '2', '-T', String(DURATION_S), db], { encoding: 'utf8' });
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
  return match ? Number(match[1]) : Number.NaN;
}

async function withFreshDatabase<T>(adminUrl: string, name: string, fn: (url: string) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    const cleanup = new pg.Client({ connectionString: adminUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await cleanup.end();
  }
}

/** Intake throughput and latency on PostgreSQL (next to pgbench) and on the embedded PGlite. */
export async function run(): Promise<Record<string, unknown>> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const results: Record<string, unknown> = { connections: CONNECTIONS, durationSeconds: DURATION_S };
  results.pglite = await measureIntake({}, 18_181);
  try {
    const postgres = await withFreshDatabase(adminUrl, 'countersign_bench', (url) => measureIntake({ DATABASE_URL: url }, 18_182));
    const pgbench = await withFreshDatabase(adminUrl, 'countersign_pgbench', async (url) => pgbenchTps(url));
    results.postgres = { ...postgres, pgbenchTps: Math.round(pgbench), ratioToPgbench: Number((postgres.max.rps / pgbench).toFixed(2)) };
  } catch (error) {
    results.postgres = { skipped: `PostgreSQL not reachable at ${adminUrl}: ${(error as Error).message}` };
  }
  return results;
}
