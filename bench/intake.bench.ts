import { PGBENCH_SETTINGS, pgbenchRun, withFreshDatabase } from './bench-postgres.ts';
import { cpuPerRequest, cpuSnapshot } from './process-cpu.ts';
import { INTAKE_CONNECTIONS, INTAKE_SECONDS, LOAD_GENERATOR, loadIntake, prepareAgent, startBenchServer } from './bench-server.ts';

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
    // The same loads from autocannon, which shares this process and the 2 cores: the figure before wrk.
    const autocannon = LOAD_GENERATOR === 'autocannon' ? undefined : {
      max: await withCpu(() => loadIntake(server, key, { generator: 'autocannon' })),
      ...(options.withJob ? { withJob: await withCpu(() => loadIntake(server, key, { project: 'bench-job', generator: 'autocannon' })) } : {}),
    };
    return { max, at200, ...(withJob ? { withJob } : {}), ...(autocannon ? { autocannon } : {}) };
  } finally {
    await server.stop();
  }
}

const ratio = (a: number, b: number) => Number((a / b).toFixed(2));

/**
 * Intake throughput and latency on PostgreSQL next to pgbench, and on the embedded PGlite.
 * pgbench runs just before and just after the PostgreSQL intake (each in a fresh database):
 * the ratio is to their mean, so a machine that got busier or quieter meanwhile shows as a
 * spread between the two rather than as a better or worse intake. The load comes from wrk when it
 * is installed (C, like pgbench's client), and again from autocannon (in this Node process) as a
 * second figure; `generator` says which one the headline figures are from.
 */
export async function run(): Promise<Record<string, unknown>> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const results: Record<string, unknown> = { connections: INTAKE_CONNECTIONS, durationSeconds: INTAKE_SECONDS, generator: LOAD_GENERATOR };
  results.pglite = await measureIntake({}, 18_181, { withJob: false });
  try {
    const before = await withFreshDatabase(adminUrl, 'countersign_pgbench', async (url) => pgbenchRun(url));
    const postgres = await withFreshDatabase(adminUrl, 'countersign_bench', (url) => measureIntake({ DATABASE_URL: url }, 18_182, { withJob: true }));
    const after = await withFreshDatabase(adminUrl, 'countersign_pgbench', async (url) => pgbenchRun(url));
    const pgbench = (before.tps + after.tps) / 2;
    results.postgres = {
      ...postgres,
      pgbench: {
        ...PGBENCH_SETTINGS,
        tpsBefore: Math.round(before.tps),
        tpsAfter: Math.round(after.tps),
        // pgbench's client (C) on the same cores, per transaction: set beside loadGeneratorCpuMs.
        clientCpuMsPerTransaction: Number(((before.clientCpuMsPerTransaction + after.clientCpuMsPerTransaction) / 2).toFixed(3)),
      },
      pgbenchTps: Math.round(pgbench),
      generator: postgres.max.generator,
      ratioToPgbench: ratio(postgres.max.rps, pgbench),
      ...(postgres.withJob ? { withJobRatioToPgbench: ratio(postgres.withJob.rps, pgbench) } : {}),
      ...(postgres.autocannon
        ? { autocannonRatioToPgbench: ratio(postgres.autocannon.max.rps, pgbench), ...(postgres.autocannon.withJob ? { autocannonWithJobRatioToPgbench: ratio(postgres.autocannon.withJob.rps, pgbench) } : {}) }
        : {}),
      target: 0.75,
      met: postgres.max.rps / pgbench >= 0.75,
    };
  } catch (error) {
    results.postgres = { skipped: `PostgreSQL not reachable at ${adminUrl}: ${(error as Error).message}` };
  }
  return results;
}
