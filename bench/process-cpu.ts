import { readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';

/**
 * CPU time used by processes, read from /proc (Linux): on a machine shared with other work,
 * CPU per request moves far less than requests per second do, so it is what before/after
 * comparisons should lean on.
 */
const TICKS_PER_SECOND = 100; // USER_HZ, 100 on every Linux that matters here

/** The fields of a /proc stat line after the ")" that ends the command name: utime and stime are the 12th and 13th, cutime and cstime the 14th and 15th. */
const statFields = (stat: string) => stat.slice(stat.lastIndexOf(')') + 2).split(' ');
const ticksMs = (a: string | undefined, b: string | undefined) => ((Number(a) + Number(b)) * 1000) / TICKS_PER_SECOND;

async function cpuMs(pid: number): Promise<number> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return 0;
  const fields = statFields(stat);
  return ticksMs(fields[11], fields[12]);
}

/**
 * CPU used by this process itself, and by its children it has waited for (a C load generator such
 * as wrk or pgbench, once it exited): /proc/self/stat's utime + stime, and cutime + cstime.
 */
export function ownCpuMs(): { self: number; children: number } {
  const fields = statFields(readFileSync('/proc/self/stat', 'utf8'));
  return { self: ticksMs(fields[11], fields[12]), children: ticksMs(fields[13], fields[14]) };
}

/**
 * CPU ms of each thread of this process alive now, by thread id (/proc/self/task), with its
 * name: `MainThread`, `V8Worker` (V8's collector and compiler helpers), a worker thread's name.
 * A thread that has exited is gone from the list; its CPU stays in the process's total.
 */
export function threadCpuMs(): Map<string, { name: string; ms: number }> {
  const threads = new Map<string, { name: string; ms: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = statFields(stat);
      threads.set(tid, { name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), ms: ticksMs(fields[11], fields[12]) });
    } catch {
      // exited between the listing and the read
    }
  }
  return threads;
}

/** The PostgreSQL backends serving `database` (their process titles name it). */
async function backendsOf(database: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const title = await fs.readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (title.startsWith('postgres: ') && title.split(' ').includes(database)) pids.push(Number(entry));
  }
  return pids;
}

/** A snapshot of the CPU used so far by `pids` and by the backends of `database`. */
export async function cpuSnapshot(pids: number[], database: string): Promise<{ process: number; database: number; backends: Map<number, number> }> {
  let process = 0;
  for (const pid of pids) process += await cpuMs(pid);
  const backends = new Map<number, number>();
  for (const pid of await backendsOf(database)) backends.set(pid, await cpuMs(pid));
  return { process, database: [...backends.values()].reduce((a, b) => a + b, 0), backends };
}

/** CPU ms per request between two snapshots; backends that started meanwhile count from zero. */
export function cpuPerRequest(before: Awaited<ReturnType<typeof cpuSnapshot>>, after: Awaited<ReturnType<typeof cpuSnapshot>>, requests: number) {
  let database = 0;
  for (const [pid, ms] of after.backends) database += ms - (before.backends.get(pid) ?? 0);
  const perRequest = (ms: number) => Number((ms / requests).toFixed(3));
  return { serverMs: perRequest(after.process - before.process), databaseMs: perRequest(database) };
}
