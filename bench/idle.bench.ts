/**
 * What an idle `countersign serve` costs: resident memory and CPU (user + system, as a share of
 * one core) over 20 s with no requests, after 30 s to settle (V8 tiers up PGlite's WebAssembly and shrinks
 * its heap for a while after start: that is start-up, not idle), read from /proc for the server's
 * own process. Issue 12 targets ≤ 400 MB RSS embedded and ≤ 1 % of a core.
 *
 *   npm run bench -- idle
 *
 * On PostgreSQL the database server's own CPU for our polling is not in the number.
 */
import fs from 'node:fs/promises';
import { startBenchServer } from './bench-server.ts';
import { withFreshDatabase } from './bench-postgres.ts';

const SETTLE_MS = 30_000;
const MEASURE_MS = 20_000;
/** USER_HZ: /proc reports CPU time in these ticks; 100 on every Linux we run on. */
const TICKS_PER_SECOND = 100;

async function cpuTicks(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), from field 3 on: utime is 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function rssMb(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Math.round(Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024);
}

async function measure(env: Record<string, string>, port: number) {
  const server = await startBenchServer(env, port);
  try {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const ticks = await cpuTicks(server.pid);
    const started = performance.now();
    await new Promise((resolve) => setTimeout(resolve, MEASURE_MS));
    const used = (await cpuTicks(server.pid)) - ticks;
    const seconds = (performance.now() - started) / 1000;
    const cpuPercent = Math.round((used / TICKS_PER_SECOND / seconds) * 1000) / 10;
    return { rssMb: await rssMb(server.pid), cpuPercentOfCore: cpuPercent };
  } finally {
    await server.stop();
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const pglite = await measure({}, 18_190);
  const postgres = await withFreshDatabase(adminUrl, 'countersign_bench_idle', (url) => measure({ DATABASE_URL: url }, 18_191));
  return { pglite: { ...pglite, target: 'RSS ≤ 400 MB, CPU ≤ 1 %', met: pglite.rssMb <= 400 && pglite.cpuPercentOfCore <= 1 }, postgres: { ...postgres, met: postgres.cpuPercentOfCore <= 1 } };
}
