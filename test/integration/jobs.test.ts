import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, expect, it, vi } from 'vitest';
import { describeEachDatabase } from '../helpers/databases.ts';
import { rowCounts } from '../helpers/row-counts.ts';
import { standInGitHub } from '../helpers/stand-in-provider.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

// A provider whose ticket is opened by a job (on `local` the approval is its own ticket, with no job).
const request = { project: 'billing-bot', action: 'send_email', summary: 'Send the reply', payload: { to: 'ops@acme.example' } };

describeEachDatabase('the intake row and its ticket job commit together', (database) => {
  let server: TestServer;
  let agent: string;

  beforeAll(async () => {
    server = await startTestServer(database, { extraProviders: [standInGitHub] });
    await server.projects([
      { key: 'billing-bot', provider: 'github', github: { owner: 'acme', repo: 'approvals' }, reviewers: ['alice'] },
      { key: 'local-bot', provider: 'local', reviewers: ['alice'] },
    ]);
    agent = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(() => server?.close());
  afterEach(() => vi.restoreAllMocks());

  const jobsFor = async (approvalId: string) => {
    const { rows } = await sql<{ name: string; state: string }>`select name, state from pgboss.job where data->>'approvalId' = ${approvalId}`.execute(server.services.db);
    return rows;
  };

  it('writes the approval and a ticket-create job for it', async () => {
    const response = await server.fetch('/v1/approvals', { key: agent, json: request });
    expect(response.status).toBe(202);
    const { id } = (await response.json()) as { id: string };
    expect((await jobsFor(id)).map((j) => j.name)).toContain('ticket-create');
  });

  it('leaves no row when enqueueing the job fails', async () => {
    const before = await rowCounts(server.services);
    // The intake's jobs are written by its own statement (jobInsert), not by a separate send.
    vi.spyOn(server.services.jobs, 'jobInsert').mockRejectedValueOnce(new Error('queue unavailable'));
    const response = await server.fetch('/v1/approvals', { key: agent, json: request });
    expect(response.status).toBe(500);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('internal');
    expect(body.error.message).not.toContain('queue unavailable');
    expect(await rowCounts(server.services)).toEqual(before);
  });

  it('leaves neither row nor job when the transaction fails after the job was enqueued', async () => {
    const before = await rowCounts(server.services);
    const jobInsert = server.services.jobs.jobInsert.bind(server.services.jobs);
    const appendWith = server.services.audit.appendWith.bind(server.services.audit);
    let enqueuedFor: string | undefined;
    vi.spyOn(server.services.jobs, 'jobInsert').mockImplementationOnce(async (queue, data, options) => {
      enqueuedFor = 'approvalId' in data ? data.approvalId : undefined;
      return jobInsert(queue, data, options);
    });
    // The statement that wrote the row and its job ran in the transaction; the transaction then fails.
    vi.spyOn(server.services.audit, 'appendWith').mockImplementationOnce(async (trx, entry, write) => {
      await appendWith(trx, entry, write);
      throw new Error('crash after enqueue');
    });
    const response = await server.fetch('/v1/approvals', { key: agent, json: request, headers: { 'idempotency-key': 'after-enqueue' } });
    expect(response.status).toBe(500);
    expect(enqueuedFor).toMatch(/^apr_/);
    expect(await jobsFor(enqueuedFor!)).toEqual([]);
    expect(await server.services.db.selectFrom('approvals').select('id').where('id', '=', enqueuedFor!).execute()).toEqual([]);
    expect(await rowCounts(server.services)).toEqual(before);

    // The rolled-back attempt did not claim its Idempotency-Key: a retry is accepted.
    const retry = await server.fetch('/v1/approvals', { key: agent, json: request, headers: { 'idempotency-key': 'after-enqueue' } });
    expect(retry.status).toBe(202);
    const { id } = (await retry.json()) as { id: string };
    expect((await jobsFor(id)).map((j) => j.name)).toEqual(['ticket-create']);
  });

  it('queues no ticket-update job for a local decision: the approval is its own ticket', async () => {
    const alice = await server.key({ scopes: ['review'], reviewer: 'alice' });
    const { id } = (await (await server.fetch('/v1/approvals', { key: agent, json: { ...request, project: 'local-bot' } })).json()) as { id: string };
    expect((await server.fetch(`/v1/approvals/${id}/decision`, { key: alice, json: { outcome: 'approve' } })).status).toBe(200);
    expect((await jobsFor(id)).map((j) => j.name)).not.toContain('ticket-update');
  });

  it('leaves the approval pending and records no callback when a decision fails after recording its callback', async () => {
    const alice = await server.key({ scopes: ['review'], reviewer: 'alice' });
    const hooked = await server.key({ scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    // Decided through the review API, which is the `local` provider's: the callback's row rides on the decision's own update.
    const { id } = (await (await server.fetch('/v1/approvals', { key: hooked, json: { ...request, project: 'local-bot', callbackUrl: 'http://127.0.0.1:9/hook' } })).json()) as { id: string };
    const jobsBefore = await jobsFor(id);
    const scheduleWith = server.services.callbacks.scheduleWith.bind(server.services.callbacks);
    vi.spyOn(server.services.callbacks, 'scheduleWith').mockImplementationOnce(async (...args) => {
      await scheduleWith(...args);
      throw new Error('database went away');
    });
    expect((await server.fetch(`/v1/approvals/${id}/decision`, { key: alice, json: { outcome: 'approve' } })).status).toBe(500);
    const row = await server.services.db.selectFrom('approvals').select(['status', 'decision']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'pending', decision: null });
    expect(await server.services.db.selectFrom('decision_votes').select('reviewer').where('approval_id', '=', id).execute()).toEqual([]);
    expect(await server.services.callbacks.find(id)).toBeUndefined();
    // Callbacks queue no job (the sweep sends what is due): the decision wrote none.
    expect((await jobsFor(id)).length).toBe(jobsBefore.length);
    // Nothing was half-done: the same decision succeeds when retried.
    expect((await server.fetch(`/v1/approvals/${id}/decision`, { key: alice, json: { outcome: 'approve' } })).status).toBe(200);
  });
});
