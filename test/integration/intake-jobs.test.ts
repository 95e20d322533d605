import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executorFor } from '../../src/db/open-database.ts';
import { describeEachDatabase, postgresDatabase, postgresUrl } from '../helpers/databases.ts';
import { standInGitHub } from '../helpers/stand-in-provider.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

/** Far longer than any wait below: a job that runs was woken at commit, not found by a poll. */
const POLL_SECONDS = 600;

/** What differs between two jobs of one queue sent a moment apart: identity, data, times and run state. */
const PER_JOB_COLUMNS = ['id', 'data', 'created_on', 'start_after', 'keep_until', 'state', 'started_on', 'completed_on', 'heartbeat_on', 'retry_count', 'output', 'singleton_on'];

interface JobRow {
  id: string;
  settings: Record<string, unknown>;
  start_after: Date;
  keep_after_start_s: number;
  state: string;
}

const jobsOf = async (server: TestServer, queue: string, approvalId: string) =>
  (
    await sql<JobRow>`select id, to_jsonb(job) - ${sql.raw(PER_JOB_COLUMNS.map((column) => `'${column}'`).join(' - '))} as settings, start_after,
      extract(epoch from keep_until - start_after)::float8 as keep_after_start_s, state
      from pgboss.job where name = ${queue} and data->>'approvalId' = ${approvalId}`.execute(server.services.db)
  ).rows;

// The intake writes its jobs (ticket, first escalation timer) in the row's own statement, from
// the statement pg-boss's send makes: pg-boss must see exactly the job its send would have written.
describeEachDatabase('jobs an intake commits with its row', (database) => {
  let server: TestServer;
  let agent: string;

  beforeAll(async () => {
    server = await startTestServer(database, { extraProviders: [standInGitHub], pollingIntervalSeconds: POLL_SECONDS });
    await server.projects([
      { key: 'sla', provider: 'local', reviewers: ['alice'], escalation: [{ after: '1s', reviewers: ['carol'] }] },
      { key: 'billing-bot', provider: 'github', github: { owner: 'acme', repo: 'approvals' }, reviewers: ['alice'], escalation: [{ after: '1h', reviewers: ['carol'] }] },
    ]);
    agent = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(() => server?.close());

  const intake = async (project: string) => {
    const response = await server.fetch('/v1/approvals', { key: agent, json: { project, action: 'send_email', summary: 'Send the reply' } });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  const approval = (id: string) => server.services.db.selectFrom('approvals').select(['ticket', 'escalation_tier', 'created_at']).where('id', '=', id).executeTakeFirstOrThrow();

  it('writes the escalation timer pg-boss’s send writes, due its tier’s time after the request, and pg-boss runs it', async () => {
    const id = await intake('sla');
    // The same queue's job through pg-boss's own send, for comparison (due later: it must not run meanwhile).
    await server.services.jobs.send(executorFor(server.services.db), 'escalation-timer', { approvalId: `reference-${id}`, tier: 1 }, { startAfter: new Date(Date.now() + 86_400_000) });
    const [timer] = await jobsOf(server, 'escalation-timer', id);
    const [reference] = await jobsOf(server, 'escalation-timer', `reference-${id}`);
    expect(timer).toBeDefined();
    // Every column of the queue's settings (retries, backoff, expiry, heartbeat, policy, retention).
    expect(timer!.settings).toEqual(reference!.settings);
    expect(timer!.settings).toMatchObject({ retry_limit: 10, retry_delay: 1, retry_backoff: true, expire_seconds: 60, heartbeat_seconds: 10 });
    expect(timer!.keep_after_start_s).toBe(reference!.keep_after_start_s);
    const row = await approval(id);
    expect(timer!.start_after.getTime() - row.created_at.getTime()).toBe(1000);
    expect((await until(() => approval(id), (current) => current.escalation_tier === 1)).escalation_tier).toBe(1);
    expect((await until(() => jobsOf(server, 'escalation-timer', id), (jobs) => jobs[0]?.state === 'completed'))[0]!.state).toBe('completed');
  });

  it('writes the ticket job and the timer of a request to a provider ticket, and opens the ticket at once', async () => {
    const id = await intake('billing-bot');
    expect((await jobsOf(server, 'ticket-create', id)).length).toBe(1);
    const [timer] = await jobsOf(server, 'escalation-timer', id);
    expect(timer!.start_after.getTime() - (await approval(id)).created_at.getTime()).toBe(3_600_000);
    expect((await until(() => approval(id), (row) => row.ticket !== null)).ticket?.key).toMatch(/^acme\/approvals#/);
  });
});

// Each statement is a round trip to the database: the intake's whole write is one.
describe.skipIf(!postgresUrl)('statements of one intake on PostgreSQL', () => {
  let server: TestServer;
  let agent: string;

  beforeAll(async () => {
    server = await startTestServer(postgresDatabase(postgresUrl!), { pollingIntervalSeconds: POLL_SECONDS });
    await server.projects([{ key: 'sla', provider: 'local', reviewers: ['alice'], escalation: [{ after: '1h', reviewers: ['carol'] }] }]);
    agent = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(() => server?.close());

  it('commits the row, its audit entry and its escalation timer in one statement, without BEGIN and COMMIT', async () => {
    // Warm: the key and the mapping are cached, as for every intake after a server's first.
    await server.fetch('/v1/approvals', { key: agent, json: { project: 'sla', action: 'a', summary: 's' } });
    await server.services.audit.flush();
    const statements: string[] = [];
    const query = pg.Client.prototype.query as (this: pg.Client, ...args: unknown[]) => unknown;
    pg.Client.prototype.query = function counted(this: pg.Client, ...args: unknown[]) {
      const first = args[0];
      statements.push(typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '?'));
      return query.apply(this, args);
    } as typeof pg.Client.prototype.query;
    let response: Response;
    try {
      response = await server.fetch('/v1/approvals', { key: agent, json: { project: 'sla', action: 'a', summary: 's' } });
    } finally {
      pg.Client.prototype.query = query as typeof pg.Client.prototype.query;
    }
    expect(response.status).toBe(202);
    const id = ((await response.json()) as { id: string }).id;
    // The audit integrator may run meanwhile: only the writes of a row and of a job count.
    const intakeStatements = statements.filter((text) => /insert into "approvals"|insert into pgboss\.job/i.test(text));
    expect(intakeStatements).toHaveLength(1);
    expect(intakeStatements[0]).toMatch(/pgboss\.job/);
    expect((await jobsOf(server, 'escalation-timer', id)).length).toBe(1);
  });
});
