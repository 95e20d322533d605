/**
 * `npm run bench -- intake-profile`: where an intake's time goes on PostgreSQL. One server on a
 * fresh database, with a statement counter (count-statements.ts) and `--cpu-prof`; after a
 * warm-up, exactly REQUESTS intakes at full load on `bench`, then on `bench-job` (each also
 * commits a job). Reports the statements (round trips) per request by text, background work
 * included, and the server's CPU over the whole run by the code it ran in (a .cpuprofile to
 * open in Chrome DevTools is left in the temp folder).
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { withFreshDatabase } from './bench-postgres.ts';
import { INTAKE_CONNECTIONS, intakeRequest, loadIntake, prepareAgent, startBenchServer } from './bench-server.ts';

const REQUESTS = 5_000;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a function's code lives, coarse enough to read: a package, or a folder of src/. */
function area(url: string, functionName: string): string {
  if (url === '') return functionName === '(garbage collector)' ? 'gc' : functionName === '(idle)' || functionName === '(program)' ? functionName : 'native';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const src = /\/src\/([^/]+)\/(?:([^/]+)\/)?/.exec(url);
  if (src) return `src/${src[1]}`;
  if (url.startsWith('node:')) return url.replace(/^node:(internal\/)?/, 'node:').split('/').slice(0, 2).join('/');
  return url.split('/').slice(-2).join('/');
}

/** Self time by area and the top functions, in % of the non-idle samples. */
function summarize(profile: CpuProfile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfMs.set(id, (selfMs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const areas = new Map<string, number>();
  const functions = new Map<string, number>();
  let busy = 0;
  for (const [id, ms] of selfMs) {
    const { callFrame } = byId.get(id)!;
    const where = area(callFrame.url, callFrame.functionName);
    if (where === '(idle)') continue;
    busy += ms;
    areas.set(where, (areas.get(where) ?? 0) + ms);
    const fn = `${callFrame.functionName || '(anonymous)'} ${callFrame.url.split('/').slice(-2).join('/')}:${callFrame.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + ms);
  }
  const top = (map: Map<string, number>, n: number) =>
    Object.fromEntries([...map].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, ms]) => [name, Number(((100 * ms) / busy).toFixed(1))]));
  return { busyMs: Math.round(busy), areasPct: top(areas, 25), functionsPct: top(functions, 30) };
}

export async function run(): Promise<Record<string, unknown>> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-intake-profile-'));
  const countsFile = path.join(dir, 'statements.json');
  return withFreshDatabase(adminUrl, 'countersign_bench_profile', async (url) => {
    const server = await startBenchServer({ DATABASE_URL: url, COUNT_STATEMENTS_FILE: countsFile }, 18_185, undefined, {
      nodeFlags: ['--import', path.resolve('bench/count-statements.ts'), '--cpu-prof', `--cpu-prof-dir=${dir}`],
    });
    /** Exactly REQUESTS intakes on `project`, with the statements the server sent meanwhile. */
    const counted = async (key: string, project: 'bench' | 'bench-job') => {
      process.kill(server.pid, 'SIGUSR2'); // start counting here
      const started = performance.now();
      const result = await autocannon({ ...intakeRequest(server, key, project), connections: INTAKE_CONNECTIONS, amount: REQUESTS });
      const load = { requests: result.requests.total, rps: Math.round((1000 * result.requests.total) / (performance.now() - started)), non2xx: result.non2xx };
      await new Promise((resolve) => setTimeout(resolve, 1_200)); // the integrator's and sweeper's share of these requests
      process.kill(server.pid, 'SIGUSR2');
      await new Promise((resolve) => setTimeout(resolve, 200));
      const counts = JSON.parse(await fs.readFile(countsFile, 'utf8')) as Record<string, number>;
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      const statements = Object.fromEntries(Object.entries(counts).map(([text, n]) => [text, Number((n / load.requests).toFixed(3))]).filter(([, n]) => Number(n) >= 0.001));
      return { ...load, statementsPerRequest: Number((total / load.requests).toFixed(2)), statements };
    };
    let bench;
    let withJob;
    try {
      const { key } = await prepareAgent(server);
      await loadIntake(server, key, { seconds: 3 }); // warm-up: JIT, pools, pg-boss queues
      bench = await counted(key, 'bench');
      withJob = await counted(key, 'bench-job');
    } finally {
      await server.stop();
    }
    const profileFile = (await fs.readdir(dir)).find((name) => name.endsWith('.cpuprofile'));
    const profile = profileFile ? summarize(JSON.parse(await fs.readFile(path.join(dir, profileFile), 'utf8')) as CpuProfile) : { skipped: 'no .cpuprofile written' };
    return { bench, withJob, profile, profileFile: profileFile ? path.join(dir, profileFile) : null };
  });
}
