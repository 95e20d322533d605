/**
 * `npm run bench -- intake-scaling`: intake on one `countersign serve` and on two sharing one
 * fresh PostgreSQL database, the load split evenly across them: at the same total connections
 * (10: 5 + 5) and at twice as many (10 + 10, against one instance at 20). pgbench at both
 * client counts, after, shows what the database alone does on the same machine. Each instance's
 * load is its own load generator (wrk when installed, bench-server.ts).
 */
import { pgbenchTps, withFreshDatabase } from './bench-postgres.ts';
import { INTAKE_CONNECTIONS, LOAD_GENERATOR, loadIntake, prepareAgent, startBenchServer, type BenchServer } from './bench-server.ts';

type Load = Awaited<ReturnType<typeof loadIntake>>;

/** The same intake load on each server at once; the result sums their rps. */
async function together(servers: BenchServer[], key: string, connectionsEach: number) {
  const loads: Load[] = await Promise.all(servers.map((server) => loadIntake(server, key, { connections: connectionsEach })));
  return { rps: loads.reduce((sum, load) => sum + load.rps, 0), perInstance: loads.map((load) => load.rps), p50ms: Math.max(...loads.map((load) => load.p50ms)), p99ms: Math.max(...loads.map((load) => load.p99ms)), non2xx: loads.reduce((sum, load) => sum + load.non2xx, 0), errors: loads.reduce((sum, load) => sum + load.errors, 0) };
}

const ratio = (a: number, b: number) => Number((a / b).toFixed(2));

export async function run(): Promise<Record<string, unknown>> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const intake = await withFreshDatabase(adminUrl, 'countersign_bench_scaling', async (url) => {
    const a = await startBenchServer({ DATABASE_URL: url }, 18_186);
    let b: BenchServer | undefined;
    try {
      const { key } = await prepareAgent(a);
      b = await startBenchServer({ DATABASE_URL: url }, 18_187);
      await together([a, b], key, 2); // warm-up: JIT, pools, both instances' caches
      const one = await together([a], key, INTAKE_CONNECTIONS);
      const two = await together([a, b], key, INTAKE_CONNECTIONS / 2);
      const oneDouble = await together([a], key, 2 * INTAKE_CONNECTIONS);
      const twoDouble = await together([a, b], key, INTAKE_CONNECTIONS);
      return {
        sameConnections: { connections: INTAKE_CONNECTIONS, one, two, scaling: ratio(two.rps, one.rps) },
        doubleConnections: { connections: 2 * INTAKE_CONNECTIONS, one: oneDouble, two: twoDouble, scaling: ratio(twoDouble.rps, oneDouble.rps), twoVsOneAt10: ratio(twoDouble.rps, one.rps) },
      };
    } finally {
      await b?.stop();
      await a.stop();
    }
  });
  const pgbench = await withFreshDatabase(adminUrl, 'countersign_pgbench', async (url) => ({ [INTAKE_CONNECTIONS]: Math.round(pgbenchTps(url, INTAKE_CONNECTIONS)), [2 * INTAKE_CONNECTIONS]: Math.round(pgbenchTps(url, 2 * INTAKE_CONNECTIONS)) }));
  const ratios = {
    [INTAKE_CONNECTIONS]: { one: ratio(intake.sameConnections.one.rps, pgbench[INTAKE_CONNECTIONS]!), two: ratio(intake.sameConnections.two.rps, pgbench[INTAKE_CONNECTIONS]!) },
    [2 * INTAKE_CONNECTIONS]: { one: ratio(intake.doubleConnections.one.rps, pgbench[2 * INTAKE_CONNECTIONS]!), two: ratio(intake.doubleConnections.two.rps, pgbench[2 * INTAKE_CONNECTIONS]!) },
  };
  return { generator: LOAD_GENERATOR, ...intake, pgbenchTpsByClients: pgbench, ratioToPgbenchByClients: ratios };
}
