import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { INTAKE_CONNECTIONS, INTAKE_SECONDS } from './bench-server.ts';
import { ownCpuMs } from './process-cpu.ts';

/**
 * How pgbench runs beside intake: its built-in TPC-B-like script (BEGIN, 3 UPDATEs, SELECT,
 * INSERT, END: one durable commit of several writes), scale 1, over TCP to the same server,
 * simple query protocol, the intake bench's client count and duration, 2 threads (the cores).
 */
export const PGBENCH_SETTINGS = { script: 'tpcb-like', scale: 1, clients: INTAKE_CONNECTIONS, threads: 2, seconds: INTAKE_SECONDS, protocol: 'simple' } as const;

/** pgbench's TPC-B-like script with the same client count: the reference for one durable commit per request. */
export function pgbenchTps(url: string, clients: number = PGBENCH_SETTINGS.clients): number {
  return pgbenchRun(url, clients).tps;
}

/**
 * pgbench as `pgbenchTps`, with its client's own CPU per transaction (the C load generator's
 * share of the 2 cores, to set beside the intake's load generator's).
 */
export function pgbenchRun(url: string, clients: number = PGBENCH_SETTINGS.clients): { tps: number; transactions: number; clientCpuMsPerTransaction: number } {
  const u = new URL(url);
  const args = ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres')];
  const db = u.pathname.slice(1);
  const { scale, threads, seconds, protocol } = PGBENCH_SETTINGS;
  execFileSync('pgbench', [...args, '-i', '-q', '-s', String(scale), db], { stdio: 'ignore' });
  const before = ownCpuMs().children;
  const out = execFileSync('pgbench', [...args, '-b', PGBENCH_SETTINGS.script, '-M', protocol, '-c', String(clients), '-j', String(threads), '-T', String(seconds), db], { encoding: 'utf8' });
  const clientMs = ownCpuMs().children - before;
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1] ?? Number.NaN);
  return { tps: match ? Number(match[1]) : Number.NaN, transactions, clientCpuMsPerTransaction: Number((clientMs / transactions).toFixed(3)) };
}

/**
 * Runs `fn` on a database created for it (and dropped after), starting from a checkpoint so no run
 * pays for an earlier one's dirty pages. `keep`: asked once `fn` ended; true leaves the database
 * for a post-mortem (the soak's failed runs).
 */
export async function withFreshDatabase<T>(adminUrl: string, name: string, fn: (url: string) => Promise<T>, keep: () => boolean = () => false): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.query('CHECKPOINT').catch(() => undefined); // needs a superuser (or pg_checkpoint); only steadies the numbers
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    return await fn(url.toString());
  } finally {
    if (!keep()) await dropDatabase(adminUrl, name);
  }
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const cleanup = new pg.Client({ connectionString: adminUrl });
  await cleanup.connect();
  await cleanup.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await cleanup.end();
}

