import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

/** The value of one sample line, e.g. `countersign_pending_approvals{project="a",provider="local"} 2`. */
const sample = (text: string, name: string, labels: Record<string, string>): number | undefined => {
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...match[2]!.matchAll(/([a-z_]+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(match[3]);
  }
  return undefined;
};

describeEachDatabase('operations endpoints', (database) => {
  let server: TestServer;
  let agent: string;
  let alice: string;

  beforeAll(async () => {
    server = await startTestServer(database);
    await server.projects([
      { key: 'billing-bot', provider: 'local', reviewers: ['alice'] },
      { key: 'quiet-bot', provider: 'local', reviewers: ['alice'] },
    ]);
    agent = await server.key({ scopes: ['intake', 'read'] });
    alice = await server.key({ scopes: ['review'], reviewer: 'alice' });
  });
  afterAll(() => server?.close());

  const create = async (project: string, risk: string) => {
    const response = await server.fetch('/v1/approvals', { key: agent, json: { project, action: 'a', summary: 's', risk } });
    return ((await response.json()) as { id: string }).id;
  };
  const metrics = async () => {
    const response = await server.fetch('/metrics');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    return response.text();
  };

  it('/healthz answers without credentials', async () => {
    const response = await server.fetch('/healthz');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('/readyz reports the database it checked', async () => {
    const response = await server.fetch('/readyz');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', database: database.name });
  });

  it('counts pending approvals per project, read from the database', async () => {
    const first = await create('quiet-bot', 'low');
    await create('quiet-bot', 'low');
    expect(sample(await metrics(), 'countersign_pending_approvals', { project: 'quiet-bot', provider: 'local' })).toBe(2);
    expect((await server.fetch(`/v1/approvals/${first}/cancel`, { key: agent, method: 'POST' })).status).toBe(200);
    expect(sample(await metrics(), 'countersign_pending_approvals', { project: 'quiet-bot', provider: 'local' })).toBe(1);
  });

  it('records the queue time of a decision by project, provider, risk and outcome', async () => {
    const labels = { project: 'billing-bot', provider: 'local', risk: 'high', outcome: 'rejected' };
    const countBefore = sample(await metrics(), 'countersign_queue_seconds_count', labels) ?? 0;
    const id = await create('billing-bot', 'high');
    expect((await server.fetch(`/v1/approvals/${id}/decision`, { key: alice, json: { outcome: 'reject' } })).status).toBe(200);
    const text = await metrics();
    expect(text).toContain('# TYPE countersign_queue_seconds histogram');
    expect(sample(text, 'countersign_queue_seconds_count', labels)).toBe(countBefore + 1);
    expect(sample(text, 'countersign_queue_seconds_bucket', { ...labels, le: '+Inf' })).toBe(countBefore + 1);
    expect(sample(text, 'countersign_queue_seconds_sum', labels)).toBeGreaterThanOrEqual(0);
    // Only the decided approval's labels: nothing was recorded for approvals still pending.
    expect(sample(text, 'countersign_queue_seconds_count', { project: 'quiet-bot' })).toBeUndefined();
  });

  it('counts approvals by status from the database, so decisions made outside this process are in it', async () => {
    const id = await create('billing-bot', 'medium');
    const before = sample(await metrics(), 'countersign_approvals', { project: 'billing-bot', provider: 'local', status: 'approved' }) ?? 0;
    // As the CLI does on an embedded database no server holds: straight in the database, not through this process.
    await server.services.db.updateTable('approvals').set({ status: 'approved', decided_at: new Date() }).where('id', '=', id).execute();
    expect(sample(await metrics(), 'countersign_approvals', { project: 'billing-bot', provider: 'local', status: 'approved' })).toBe(before + 1);
  });

  it('names the process metrics once (countersign_process_…, not countersign_process_process_…)', async () => {
    const text = await metrics();
    expect(text).toContain('# TYPE countersign_process_cpu_seconds_total counter');
    expect(text).toContain('# TYPE countersign_nodejs_eventloop_lag_seconds gauge');
    expect(text).not.toContain('countersign_process_process_');
  });

  it('does not count a cancelled approval as decided', async () => {
    const id = await create('billing-bot', 'low');
    await server.fetch(`/v1/approvals/${id}/cancel`, { key: agent, method: 'POST' });
    expect(sample(await metrics(), 'countersign_queue_seconds_count', { project: 'billing-bot', risk: 'low' })).toBeUndefined();
  });

  it('/readyz answers 503 in the error shape once the job workers have stopped', async () => {
    await server.services.jobs.stop();
    const response = await server.fetch('/readyz');
    expect(response.status).toBe(503);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_ready');
    expect((await server.fetch('/healthz')).status).toBe(200);
  });
});
