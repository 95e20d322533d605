import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { executorFor } from '../../src/db/open-database.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

describeEachDatabase('audit retention from config', (database) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer(database, { env: { COUNTERSIGN_AUDIT_RETENTION: '1s' } });
  });
  afterAll(() => server?.close());

  it('schedules a daily prune that cuts the old end and audits itself', async () => {
    const schedules = await sql<{ name: string; cron: string }>`select name, cron from pgboss.schedule`.execute(server.services.db);
    expect(schedules.rows).toContainEqual(expect.objectContaining({ name: 'audit-prune' }));

    await server.projects([{ key: 'ops', provider: 'local', reviewers: ['alice'] }]);
    await server.key({ scopes: ['intake'] });
    await server.services.audit.checkpoint();
    await new Promise((resolve) => setTimeout(resolve, 1_200));

    // What the cron sends once a day, sent now.
    await server.services.jobs.send(executorFor(server.services.db), 'audit-prune', {});
    const pruned = async () => (await server.services.db.selectFrom('audit_records').select('event').where('event', '=', 'audit.pruned').execute()).length;
    await expect.poll(pruned, { timeout: 10_000 }).toBe(1);
    const { min } = await server.services.db.selectFrom('audit_records').select((eb) => eb.fn.min('seq').as('min')).executeTakeFirstOrThrow();
    expect(Number(min)).toBeGreaterThan(1);
  });
});
