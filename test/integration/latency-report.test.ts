import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decideLocal } from '../../src/approvals/decide-local.ts';
import { createApproval } from '../../src/intake/create-approval.ts';
import { createApiKey, findPrincipal } from '../../src/keys/api-keys.ts';
import { mappingFileSchema } from '../../src/projects/mapping-schema.ts';
import { applyProjects } from '../../src/projects/project-store.ts';
import { LATENCY_COLUMNS } from '../../src/reports/latency-report.ts';
import { runAuditCli, startAuditServices, type AuditTestServices } from '../helpers/audit-fixtures.ts';
import { describeEachDatabase } from '../helpers/databases.ts';

describeEachDatabase('report latency: one row per approval, for any spreadsheet', (database) => {
  let t: AuditTestServices;
  const ids: string[] = [];

  beforeAll(async () => {
    t = await startAuditServices(database);
    // A reviewer id a spreadsheet would read as a formula: it reaches the decided_by column.
    await applyProjects(t.services, mappingFileSchema.parse({ projects: [{ key: 'ops', provider: 'local', reviewers: ['alice', '=HYPERLINK("http://evil.example")', '@bob'] }] }).projects);
    const key = await createApiKey(t.services, { name: 'agent', scopes: ['intake', 'read'] });
    const principal = (await findPrincipal(t.services.db, key.key))!;
    for (const [i, risk] of (['high', 'low', 'medium'] as const).entries()) {
      const { approval } = await createApproval(t.services, principal, { project: 'ops', action: 'send_email', summary: `=cmd|' /C calc'!A0 ${i}`, risk, requestedBy: '+agent' });
      ids.push(approval.id);
    }
    await decideLocal(t.services, { approvalId: ids[0]!, reviewer: '=HYPERLINK("http://evil.example")', outcome: 'approve', via: 'cli' });
    await decideLocal(t.services, { approvalId: ids[1]!, reviewer: '@bob', outcome: 'reject', reason: 'no', via: 'cli' });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('writes RFC 4180 CSV with the documented columns, formula cells neutralised', async () => {
    const run = await runAuditCli(['report', 'latency', '--since', '30d'], t.services, t.dataDir);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout.split('\r\n')[0]).toBe(LATENCY_COLUMNS.join(','));
    const rows = parseCsv(run.stdout, { columns: true, strict: true } as never) as Array<Record<string, string>>;
    expect(rows.map((row) => row.id)).toEqual(ids);
    expect(Object.keys(rows[0]!)).toEqual([...LATENCY_COLUMNS]);

    const [approved, rejected, pending] = rows as [Record<string, string>, Record<string, string>, Record<string, string>];
    expect(approved).toMatchObject({ project: 'ops', risk: 'high', outcome: 'approved', decided_by: `'=HYPERLINK("http://evil.example")`, callback_delivered: '' });
    expect(rejected).toMatchObject({ risk: 'low', outcome: 'rejected', decided_by: "'@bob" });
    expect(pending).toMatchObject({ outcome: 'pending', decided: '', queue_seconds: '', end_to_end_seconds: '', decided_by: '' });
    // The local provider's ticket is the approval itself; a reviewer was first seen at their vote.
    expect(approved.ticket_created).toBe(approved.created);
    expect(approved.first_seen).not.toBe('');
    expect(Number(approved.queue_seconds)).toBeGreaterThanOrEqual(0);
    // Without a callback, end to end is created → decided.
    expect(approved.end_to_end_seconds).toBe(approved.queue_seconds);
    for (const row of rows) for (const value of Object.values(row)) expect(value).not.toMatch(/^[=+\-@]/);
  });

  it('writes the same rows as JSON, and refuses a bad --since or --format (exit 2)', async () => {
    const run = await runAuditCli(['report', 'latency', '--json'], t.services, t.dataDir);
    expect(run.exitCode, run.stderr).toBe(0);
    const body = JSON.parse(run.stdout) as { columns: string[]; rows: Array<Record<string, unknown>> };
    expect(body.columns).toEqual([...LATENCY_COLUMNS]);
    expect(body.rows.map((row) => row.id)).toEqual(ids);
    expect(body.rows[0]).toMatchObject({ decided_by: '=HYPERLINK("http://evil.example")', queue_seconds: expect.any(Number) });
    expect(await runAuditCli(['report', 'latency', '--since', 'forever'], t.services, t.dataDir)).toMatchObject({ exitCode: 2 });
    expect(await runAuditCli(['report', 'latency', '--format', 'xlsx'], t.services, t.dataDir)).toMatchObject({ exitCode: 2, stderr: expect.stringMatching(/expected csv or json/) });
  });
});
