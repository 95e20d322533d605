import { pgbenchTps, withFreshDatabase } from './bench-postgres.ts';
import { INTAKE_CONNECTIONS, INTAKE_SECONDS, loadIntake, prepareAgent, startBenchServer } from './bench-server.ts';

async function measureIntake(env: Record<string, string>, port: number) {
  const server = await startBenchServer(env, port);
  try {
    const { key } = await prepareAgent(server);
    await loadIntake(server, key, { rate: 50 }); // warm-up: JIT, pools, pg-boss queues
    const max = await loadIntake(server, key, {});
    const at200 = await loadIntake(server, key, { rate: 200 });
    return { max, at200 };
  } finally {
    await server.stop();
  }
}

/** Intake throughput and latency on PostgreSQL (next to pgbench) and on the embedded PGlite. */
export async function run(): Promise<Record<string, unknown>> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const results: Record<string, unknown> = { connections: INTAKE_CONNECTIONS, durationSeconds: INTAKE_SECONDS };
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
