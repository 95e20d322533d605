import { afterAll, beforeAll, expect, it } from 'vitest';
import { executorFor, openDatabase, type AppDatabase } from '../../src/db/open-database.ts';
import { createLogger } from '../../src/config/logger.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { standInGitHub } from '../helpers/stand-in-provider.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

/** Far longer than any wait below: a job that runs did not wait for a poll. */
const POLL_SECONDS = 600;

describeEachDatabase('a committed job wakes its worker instead of waiting for the next poll', (database) => {
  let server: TestServer;
  let agent: string;

  beforeAll(async () => {
    server = await startTestServer(database, { extraProviders: [standInGitHub], pollingIntervalSeconds: POLL_SECONDS });
    await server.projects([
      { key: 'billing-bot', provider: 'github', github: { owner: 'acme', repo: 'approvals' }, reviewers: ['alice'] },
      { key: 'sla', provider: 'local', reviewers: ['alice'], escalation: [{ after: '1s', reviewers: ['carol'] }] },
    ]);
    agent = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(() => server?.close());

  const intake = async (project: string) => {
    const response = await server.fetch('/v1/approvals', { key: agent, json: { project, action: 'send_email', summary: 'Send the reply' } });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  const approval = (id: string) => server.services.db.selectFrom('approvals').select(['ticket', 'escalation_tier']).where('id', '=', id).executeTakeFirstOrThrow();

  it('opens the ticket of a new request at once', async () => {
    const id = await intake('billing-bot');
    expect((await until(() => approval(id), (row) => row.ticket !== null)).ticket?.key).toMatch(/^acme\/approvals#/);
  });

  it('runs a job sent for later when it is due', async () => {
    const id = await intake('sla');
    expect((await until(() => approval(id), (row) => row.escalation_tier === 1)).escalation_tier).toBe(1);
  });
});

describeEachDatabase('a statement’s commit callback', (database) => {
  let app: AppDatabase;
  let dispose: () => Promise<void>;

  beforeAll(async () => {
    const created = await database.create();
    dispose = created.dispose;
    app = await openDatabase(created.target, createLogger('silent'));
  });
  afterAll(async () => {
    await app?.close();
    await dispose?.();
  });

  it('runs after COMMIT, not when the statement runs inside the transaction', async () => {
    const calls: string[] = [];
    await app.db.transaction().execute(async (trx) => {
      const executor = executorFor(trx);
      executor.afterNextCommit?.(() => calls.push('committed'));
      await executor.executeSql('select 1', []);
      calls.push('statement ran');
    });
    expect(calls).toEqual(['statement ran', 'committed']);
  });

  it('never runs when the transaction rolls back', async () => {
    const calls: string[] = [];
    await expect(
      app.db.transaction().execute(async (trx) => {
        const executor = executorFor(trx);
        executor.afterNextCommit?.(() => calls.push('committed'));
        await executor.executeSql('select 1', []);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    // The connection's next transaction commits without the rolled-back callback.
    await app.db.transaction().execute(async (trx) => {
      await executorFor(trx).executeSql('select 1', []);
    });
    expect(calls).toEqual([]);
  });

  it('never runs for a statement whose savepoint rolled back, and runs at COMMIT for one whose savepoint was released', async () => {
    const calls: string[] = [];
    const trx = await app.db.startTransaction().execute();
    const rolledBack = await trx.savepoint('first').execute();
    const dropped = executorFor(rolledBack);
    dropped.afterNextCommit?.(() => calls.push('rolled back'));
    await dropped.executeSql('select 1', []);
    const afterRollback = await rolledBack.rollbackToSavepoint('first').execute();

    const released = await afterRollback.savepoint('second').execute();
    const kept = executorFor(released);
    kept.afterNextCommit?.(() => calls.push('released'));
    await kept.executeSql('select 1', []);
    const releasedAll = await released.releaseSavepoint('second').execute();
    calls.push('before commit');
    await releasedAll.commit().execute();
    expect(calls).toEqual(['before commit', 'released']);
  });

  it('runs once the statement is done outside a transaction, and only for the next statement', async () => {
    const calls: string[] = [];
    const executor = executorFor(app.db);
    executor.afterNextCommit?.(() => calls.push('committed'));
    await executor.executeSql('select 1', []);
    await executor.executeSql('select 2', []);
    expect(calls).toEqual(['committed']);
  });
});
