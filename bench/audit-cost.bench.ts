import path from 'node:path';
import { pgbenchTps, withFreshDatabase } from './bench-postgres.ts';
import { loadIntake, prepareAgent, startBenchServer } from './bench-server.ts';

const ROUNDS = 5;
const WITHOUT_AUDIT = [path.resolve('bench/serve-without-audit.ts')];

async function maxIntake(url: string, withAudit: boolean): Promise<number> {
  const server = await startBenchServer({ DATABASE_URL: url }, 18_184, withAudit ? undefined : WITHOUT_AUDIT);
  try {
    const { key } = await prepareAgent(server);
    await loadIntake(server, key, { seconds: 3 }); // warm-up: JIT, pools
    const result = await loadIntake(server, key, {});
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`intake failed under load: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
    return result.rps;
  } finally {
    await server.stop();
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/**
 * What the audit log costs intake on PostgreSQL: the real server in its own process, once as
 * shipped and once with the audit made a no-op (bench/serve-without-audit.ts), alternating
 * over a few rounds on fresh databases, next to pgbench in the same run. Single runs on a
 * shared 2-core machine move ±15 %, so the medians are compared.
 */
export async function run(): Promise<Record<string, unknown>> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const rps: Record<'withAudit' | 'withoutAudit', number[]> = { withAudit: [], withoutAudit: [] };
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const withAudit of [false, true]) {
      rps[withAudit ? 'withAudit' : 'withoutAudit'].push(await withFreshDatabase(adminUrl, 'countersign_audit_cost', (url) => maxIntake(url, withAudit)));
    }
  }
  const pgbench = Math.round(await withFreshDatabase(adminUrl, 'countersign_pgbench', async (url) => pgbenchTps(url)));
  const on = median(rps.withAudit);
  const off = median(rps.withoutAudit);
  return {
    rounds: rps,
    pgbenchTps: pgbench,
    ratioToPgbench: { withAudit: Number((on / pgbench).toFixed(2)), withoutAudit: Number((off / pgbench).toFixed(2)) },
    auditCostShare: Number((1 - on / off).toFixed(2)),
  };
}
