import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/config.ts';
import { openDatabase, type DatabaseTarget } from '../../src/db/open-database.ts';
import { setAsidePgBoss10 } from '../../src/jobs/pg-boss-10-upgrade.ts';
import { createLogger } from '../../src/config/logger.ts';
import { runServer } from '../../src/server/run-server.ts';
import { startServices } from '../../src/start-services.ts';
import { countersign } from '../helpers/countersign-process.ts';
import { describeEachDatabase, type TestDatabase } from '../helpers/databases.ts';
import { standInGitHub } from '../helpers/stand-in-provider.ts';
import { until } from '../helpers/until.ts';

/** Made by 0.1 itself (pg-boss 10, schema 24): see test/fixtures/upgrade-0.1/make-fixture.ts. */
const FIXTURES = fileURLToPath(new URL('../fixtures/upgrade-0.1/', import.meta.url));

interface FixtureManifest {
  keys: { agent: string; alice: string };
  approvals: { decided: string; retrying: string; queued: string; escalating: string; farTimer: string };
  farTimerDueAt: string;
}

/** The fixture's database, restored where the new code will open it. */
async function restore(database: TestDatabase, dataDir: string): Promise<{ target: DatabaseTarget; env: Record<string, string>; dispose: () => Promise<void> }> {
  if (database.name === 'pglite') {
    execFileSync('tar', ['-xJf', path.join(FIXTURES, 'pglite-data.tar.xz'), '-C', dataDir]);
    return { target: { kind: 'pglite', dataDir }, env: { COUNTERSIGN_DATA_DIR: dataDir }, dispose: async () => undefined };
  }
  const created = await database.create();
  if (created.target.kind !== 'postgres') throw new Error('expected a PostgreSQL database');
  const client = new pg.Client({ connectionString: created.target.url });
  await client.connect();
  try {
    await client.query(await fs.readFile(path.join(FIXTURES, 'postgres.sql'), 'utf8'));
  } finally {
    await client.end();
  }
  return { target: created.target, env: { COUNTERSIGN_DATA_DIR: dataDir, DATABASE_URL: created.target.url }, dispose: created.dispose };
}

describeEachDatabase('a database made by 0.1 (pg-boss 10) on the new code', (database) => {
  it('keeps its approvals and audit log, and runs the jobs it had waiting', async () => {
    const manifests = JSON.parse(await fs.readFile(path.join(FIXTURES, 'manifest.json'), 'utf8')) as Record<'pglite' | 'postgres', FixtureManifest>;
    const { keys, approvals, farTimerDueAt } = manifests[database.name];
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-upgrade-'));
    const restored = await restore(database, dataDir);
    try {
      const config = resolveConfig({ ...restored.env, PORT: '0' });
      const services = await startServices(config, createLogger('silent'), { workers: true, target: restored.target, extraProviders: [standInGitHub], pollingIntervalSeconds: 0.5 });
      const server = await runServer(services);
      try {
        const get = async (id: string) => (await (await fetch(`${server.url}/v1/approvals/${id}`, { headers: { authorization: `Bearer ${keys.agent}` } })).json()) as { status: string; ticket: { provider: string } | null };

        // The API keys and approvals of 0.1 are there as they were.
        expect((await get(approvals.decided)).status).toBe('approved');
        for (const id of [approvals.retrying, approvals.queued, approvals.escalating, approvals.farTimer]) expect((await get(id)).status).toBe('pending');

        // The queued and the retrying ticket jobs run now, GitHub being back.
        for (const id of [approvals.queued, approvals.retrying]) expect((await until(() => get(id), (a) => a.ticket !== null)).ticket).toMatchObject({ provider: 'github' });
        // The retrying job's attempt under pg-boss 10 still counts: this was its second.
        const retried = await sql<{ state: string; retry_count: number }>`select state, retry_count from pgboss.job where name = 'ticket-create' and data->>'approvalId' = ${approvals.retrying}`.execute(services.db);
        expect(retried.rows).toEqual([{ state: 'completed', retry_count: 1 }]);

        // The escalation timer that came due while nothing ran fires; the 10-year one keeps its time.
        await until(async () => (await services.db.selectFrom('approvals').select('escalation_tier').where('id', '=', approvals.escalating).executeTakeFirstOrThrow()).escalation_tier, (tier) => tier === 1);
        const far = await sql<{ state: string; start_after: Date }>`select state, start_after from pgboss.job where name = 'escalation-timer' and data->>'approvalId' = ${approvals.farTimer}`.execute(services.db);
        expect(far.rows).toEqual([{ state: 'created', start_after: new Date(farTimerDueAt) }]);

        // Decisions work on the carried-over approvals.
        const decision = await fetch(`${server.url}/v1/approvals/${approvals.farTimer}/decision`, { method: 'POST', headers: { authorization: `Bearer ${keys.alice}`, 'content-type': 'application/json' }, body: JSON.stringify({ outcome: 'reject', reason: 'not now' }) });
        expect(decision.status, await decision.clone().text()).toBe(200);
        expect((await get(approvals.farTimer)).status).toBe('rejected');

        // pg-boss 12's schema replaced pg-boss 10's, which is gone.
        const schemas = await sql<{ nspname: string }>`select nspname from pg_namespace where nspname like 'pgboss%' order by nspname`.execute(services.db);
        expect(schemas.rows.map((row) => row.nspname)).toEqual(['pgboss']);
        expect((await sql<{ version: number }>`select version from pgboss.version`.execute(services.db)).rows[0]!.version).toBeGreaterThanOrEqual(25);
      } finally {
        await server.close();
      }

      // The audit log of 0.1, and what the new code appended to it, verifies.
      const verify = await countersign(['audit', 'verify', '--json'], { cwd: dataDir, env: restored.env });
      expect(verify.code, verify.stderr).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
    } finally {
      await restored.dispose();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('finishes an upgrade that stopped after setting the old schema aside', async () => {
    const manifests = JSON.parse(await fs.readFile(path.join(FIXTURES, 'manifest.json'), 'utf8')) as Record<'pglite' | 'postgres', FixtureManifest>;
    const { approvals } = manifests[database.name];
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-upgrade-'));
    const restored = await restore(database, dataDir);
    try {
      // A start that died right after the rename, before pg-boss 12 installed anything.
      const interrupted = await openDatabase(restored.target, createLogger('silent'));
      expect(await setAsidePgBoss10(interrupted.db, createLogger('silent'))).toBe(true);
      await interrupted.close();

      const config = resolveConfig({ ...restored.env, PORT: '0' });
      const services = await startServices(config, createLogger('silent'), { workers: true, target: restored.target, extraProviders: [standInGitHub], pollingIntervalSeconds: 0.5 });
      try {
        const ticketOf = async () => (await services.db.selectFrom('approvals').select('ticket').where('id', '=', approvals.queued).executeTakeFirstOrThrow()).ticket;
        expect(await until(ticketOf, (ticket) => ticket !== null)).toMatchObject({ provider: 'github' });
        const schemas = await sql<{ nspname: string }>`select nspname from pg_namespace where nspname like 'pgboss%'`.execute(services.db);
        expect(schemas.rows.map((row) => row.nspname)).toEqual(['pgboss']);
      } finally {
        await services.stop();
      }
    } finally {
      await restored.dispose();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
