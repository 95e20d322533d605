import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createApproval } from '../src/intake/create-approval.ts';
import { resolveConfig } from '../src/config/config.ts';
import type { DatabaseTarget } from '../src/db/open-database.ts';
import { createApiKey, findPrincipal } from '../src/keys/api-keys.ts';
import { createLogger } from '../src/config/logger.ts';
import { mappingFileSchema } from '../src/projects/mapping-schema.ts';
import { applyProjects } from '../src/projects/project-store.ts';
import { startServices } from '../src/start-services.ts';
import { percentile } from './bench-server.ts';

const TIMERS = 200;
const AFTER_SECONDS = 5;

/**
 * Escalation timer lateness: 200 approvals whose first tier is due 5 s after each request;
 * lateness is the audit record's time of the escalation minus the moment it was due
 * (target: every timer at most 5 s late; p99 reported).
 */
async function measure(target: DatabaseTarget, dataDir: string) {
  const config = resolveConfig({ COUNTERSIGN_DATA_DIR: dataDir, PORT: '0' });
  const services = await startServices(config, createLogger('silent'), { workers: true, target });
  try {
    await applyProjects(services, mappingFileSchema.parse({ projects: [{ key: 'timers', provider: 'local', reviewers: ['alice'], escalation: [{ after: `${AFTER_SECONDS}s`, reviewers: ['carol'] }] }] }).projects);
    const key = await createApiKey(services, { name: 'bench', scopes: ['intake', 'read'] });
    const principal = (await findPrincipal(services.db, key.key))!;
    const ids: string[] = [];
    for (let i = 0; i < TIMERS; i++) ids.push((await createApproval(services, principal, { project: 'timers', action: 'a', summary: `timer ${i}` })).approval.id);

    const deadline = Date.now() + 60_000;
    for (;;) {
      const { n } = await services.db.selectFrom('approvals').select((eb) => eb.fn.countAll<string | number>().as('n')).where('escalation_tier', '=', 1).executeTakeFirstOrThrow();
      if (Number(n) === TIMERS || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const rows = await services.db
      .selectFrom('audit_records')
      .innerJoin('approvals', 'approvals.id', 'audit_records.approval_id')
      .select(['approvals.created_at', 'audit_records.time'])
      .where('audit_records.event', '=', 'approval.escalated')
      .execute();
    const lateMs = rows.map((row) => new Date(row.time).getTime() - (row.created_at.getTime() + AFTER_SECONDS * 1000)).sort((a, b) => a - b);
    return { timers: TIMERS, fired: lateMs.length, p50LateMs: percentile(lateMs, 50), p99LateMs: percentile(lateMs, 99), maxLateMs: lateMs.at(-1) ?? null, earliestMs: lateMs[0] ?? null };
  } finally {
    await services.stop();
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-timers-'));
  try {
    const result: Record<string, unknown> = { pglite: await measure({ kind: 'pglite', dataDir }, dataDir) };
    const url = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
    if (url) {
      const pg = (await import('pg')).default;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query('DROP DATABASE IF EXISTS countersign_timers WITH (FORCE)');
      await admin.query('CREATE DATABASE countersign_timers');
      const dbUrl = new URL(url);
      dbUrl.pathname = '/countersign_timers';
      try {
        result.postgres = await measure({ kind: 'postgres', url: dbUrl.toString() }, await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-timers-pg-')));
      } finally {
        await admin.query('DROP DATABASE IF EXISTS countersign_timers WITH (FORCE)');
        await admin.end();
      }
    }
    return result;
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}
