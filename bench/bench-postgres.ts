import { execFileSync } from 'node:child_process';
import pg from 'pg';
import { INTAKE_CONNECTIONS, INTAKE_SECONDS } from './bench-server.ts';

/** pgbench's TPC-B-like script with the same client count: the reference for one durable commit per request. */
export function pgbenchTps(url: string): number {
  const u = new URL(url);
  const args = ['-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres')];
  const db = u.pathname.slice(1);
  execFileSync('pgbench', [...args, '-i', '-q', '-s', '1', db], { stdio: 'ignore' });
  const out = execFileSync('pgbench', [...args, '-c', String(INTAKE_CONNECTIONS), '-j', '2', '-T', String(INTAKE_SECONDS), db], { encoding: 'utf8' });
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
  return match ? Number(match[1]) : Number.NaN;
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

