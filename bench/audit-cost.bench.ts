import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import type { AuditLog } from '../src/audit/audit-log.ts';
import { resolveConfig } from '../src/config.ts';
import { createApiKey } from '../src/keys/api-keys.ts';
import { createLogger } from '../src/logger.ts';
import { mappingFileSchema } from '../src/projects/mapping-schema.ts';
import { applyProjects } from '../src/projects/project-store.ts';
import { runServer } from '../src/server/run-server.ts';
import { startServices } from '../src/start-services.ts';

/**
 * What the audit log costs intake: the same server and load on PostgreSQL, once as shipped and
 * once with the audit append made a no-op (bench only: the shipped code has no such switch).
 * Server and load share this process, so compare the two runs, not the absolute numbers.
 */
async function measure(url: string, withAudit: boolean) {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-audit-cost-'));
  const config = resolveConfig({ PORT: '0', COUNTERSIGN_DATA_DIR: dataDir, DATABASE_URL: url });
  const services = await startServices(config, createLogger('silent'), { workers: true });
  if (!withAudit) (services as { audit: Pick<AuditLog, 'append'> }).audit = { append: async () => undefined as never };
  const server = await runServer(services);
  try {
    await applyProjects(services, mappingFileSchema.parse({ projects: [{ key: 'bench', provider: 'local', reviewers: ['alice'] }] }).projects);
    const { key } = await createApiKey(services, { name: 'bench', scopes: ['intake'] });
    const run = (duration: number) =>
      autocannon({
        url: `${server.url}/v1/approvals`,
        method: 'POST',
        connections: 10,
        duration,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ project: 'bench', action: 'send_email', summary: 'Send', payload: { to: 'ops@acme.example' } }),
      });
    await run(2);
    const result = await run(10);
    return { rps: Math.round(result.requests.average), p99ms: result.latency.p99, non2xx: result.non2xx };
  } finally {
    await server.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const results: Record<string, unknown> = {};
  for (const withAudit of [true, false]) {
    const name = `countersign_audit_cost_${withAudit ? 'on' : 'off'}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    try {
      results[withAudit ? 'withAudit' : 'withoutAudit'] = await measure(url.toString(), withAudit);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  }
  const on = results.withAudit as { rps: number };
  const off = results.withoutAudit as { rps: number };
  results.auditCostShare = Number((1 - on.rps / off.rps).toFixed(2));
  return results;
}
