import { PGBENCH_SETTINGS, pgbenchTps, withFreshDatabase } from './bench-postgres.ts';
import { cpuPerRequest, cpuSnapshot } from './process-cpu.ts';
import { INTAKE_CONNECTIONS, INTAKE_SECONDS, loadIntake, prepareAgent, startBenchServer } from './bench-server.ts';

async function measureIntake(env: Record<string, string>, port: number, options: { withJob: boolean }) {
  const server = await startBenchServer(env, port);
  // On PostgreSQL, the CPU each request costs the server and the database's backends too.
  const database = env.DATABASE_URL ? new URL(env.DATABASE_URL).pathname.slice(1) : undefined;
  const withCpu = async (load: () => ReturnType<typeof loadIntake>) => {
    if (!database) return load();
    const before = await cpuSnapshot([server.pid], database);
    const result = await load();
    return { ...result, cpuMsPerRequest: cpuPerRequest(before, await cpuSnapshot([server.pid], database), result.requests) };
  };
  try {
    const { key } = await prepareAgent(server);
    await loadIntake(server, key, { rate: 50 }); // warm-up: JIT, pools, pg-boss queues
    const max = await withCpu(() => loadIntake(server, key, {}));
    const at200 = await loadIntake(server, key, { rate: 200 });
    // Each intake also commits a job in its transaction (an escalation timer): row, audit entry, job.
    const withJob = options.withJob ? await withCpu(() => loadIntake(server, key, { project: 'bench-job' })) : undefined;
    return { max, at200, ...(withJob ? { withJob } : {}) };
  } finally {
    await server.stop();
  }
}

const ratio = (a: number, b: number) => Number((a / b).toFixed(2));

/**
 * Intake throughput and latency on PostgreSQL next to pgbench, and on the embedded PGlite.
 * pgbench runs just before and just after the PostgreSQL intake (each in a fresh database):
 * the ratio is to their mean, so a machine that got busier or quieter meanwhile shows as a
 * spread between the two rather than as a better or worse intake.
 */
export async function run(): Promise<Record<string, unknown>> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const results: Record<string, unknown> = { connections: INTAKE_CONNECTIONS, durationSeconds: INTAKE_SECONDS };
  results.pglite = await measureIntake({}, 18_181, { withJob: false });
  try {
    const before = await withFreshDatabase(adminUrl, 'countersign_pgbench', async (url) => pgbenchTps(url));
    const postgres = await withFreshDatabase(adminUrl, 'countersign_bench', (url) => measureIntake({ DATABASE_URL: url }, 18_182, { withJob: true }));
    const after = await withFreshDatabase(adminUrl, 'countersign_pgbench', async (url) => pgbenchTps(url));
    const pgbench = (before + after) / 2;
    results.postgres = {
      ...postgres,
      pgbench: { ...PGBENCH_SETTINGS, tpsBefore: Math.round(before), tpsAfter: Math.round(after) },
      pgbenchTps: Math.round(pgbench),
      ratioToPgbench: ratio(postgres.max.rps, pgbench),
      ...(postgres.withJob ? { withJobRatioToPgbench: ratio(postgres.withJob.rps, pgbench) } : {}),
      target: 0.75,
      met: postgres.max.rps / pgbench >= 0.75,
    };
  } catch (error) {
    results.postgres = { skipped: `PostgreSQL not reachable at ${adminUrl}: ${(error as Error).message}` };
  }
  return results;
}
