import fs from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readAuditSnapshot } from '../../src/audit/read-audit-snapshot.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { appendTestRecords, runAuditCli, startAuditServices, verifyAfterTampering, type AuditTestServices } from '../helpers/audit-fixtures.ts';

const DAY = 86_400_000;

describeEachDatabase('audit log retention', (database) => {
  let t: AuditTestServices;
  let clock = new Date('2025-01-01T00:00:00Z');

  // 1..30 on day 0 (checkpoints at 20 and 30), 31..40 on day 100 (checkpoint at 40).
  beforeAll(async () => {
    t = await startAuditServices(database, { now: () => clock });
    await appendTestRecords(t.services, 19, 'old');
    await t.services.audit.checkpoint();
    await appendTestRecords(t.services, 10, 'old2');
    await t.services.audit.checkpoint();
    clock = new Date(clock.getTime() + 100 * DAY);
    await appendTestRecords(t.services, 10, 'recent');
    await t.services.audit.checkpoint();
  });
  afterAll(() => t?.close());

  it('exports --since from the last signed checkpoint before that time, and the part verifies offline', async () => {
    const exported = await runAuditCli(['audit', 'export', '--since', new Date(clock.getTime() - DAY).toISOString()], t.services, t.dataDir);
    const lines = exported.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { type: string; seq?: number; treeSize?: number; reason?: string });
    expect(lines.find((l) => l.type === 'anchor')).toMatchObject({ treeSize: 30, reason: 'since' });
    expect(lines.filter((l) => l.type === 'record').map((l) => l.seq)).toEqual([31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
    await fs.writeFile(path.join(t.dataDir, 'since.jsonl'), exported.stdout);
    expect(await runAuditCli(['audit', 'verify', '--file', 'since.jsonl'], undefined, t.dataDir)).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/10 records \(seq 31–40\), from the signed anchor at tree size 30 \(since\)/) });
  });

  it('prunes the oldest records up to a signed checkpoint, audits the prune, and still verifies', async () => {
    const pruned = await runAuditCli(['audit', 'prune', '--older-than', '90d', '--json'], t.services, t.dataDir);
    expect(pruned.exitCode).toBe(0);
    expect(JSON.parse(pruned.stdout)).toMatchObject({ anchorTreeSize: 30, deleted: 30 });

    const { db } = t.services;
    const first = await db.selectFrom('audit_records').select(['seq']).orderBy('seq').limit(1).executeTakeFirstOrThrow();
    expect(Number(first.seq)).toBe(31);
    const record = await db.selectFrom('audit_records').selectAll().where('event', '=', 'audit.pruned').executeTakeFirstOrThrow();
    expect(record.data).toMatchObject({ deleted: 30, anchor: { treeSize: 30 } });
    expect(record.actor).toEqual({ kind: 'admin', id: 'operator', via: 'cli' });

    expect(await verifyAuditLog(await readAuditSnapshot(db))).toMatchObject({ ok: true, firstSeq: 31, lastSeq: 41, anchor: { treeSize: 30, reason: 'pruned' } });
    const verified = await runAuditCli(['audit', 'verify'], t.services, t.dataDir);
    expect(verified).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/11 records \(seq 31–41\), from the signed anchor at tree size 30 \(pruned\)/) });

    // Checkpoints go on from the kept tree.
    expect(await t.services.audit.checkpoint()).toMatchObject({ treeSize: 41 });
    expect(await verifyAuditLog(await readAuditSnapshot(db))).toMatchObject({ ok: true, checkpoints: 4 });

    const again = await runAuditCli(['audit', 'prune', '--older-than', '90d', '--json'], t.services, t.dataDir);
    expect(JSON.parse(again.stdout)).toMatchObject({ anchorTreeSize: null, deleted: 0 });
  });

  it('after a prune, still catches tampering with the retained part and removal outside the prune routine', async () => {
    expect(await verifyAfterTampering(t.services, async (trx) => {
      await sql`update audit_records set data = '{"i": 1}'::jsonb where seq = 35`.execute(trx);
    })).toMatchObject({ ok: false, seq: 35, reason: expect.stringMatching(/hash does not match/) });

    expect(await verifyAfterTampering(t.services, async (trx) => {
      await sql`delete from audit_records where seq = 31`.execute(trx);
    })).toMatchObject({ ok: false, seq: 31, reason: expect.stringMatching(/record 31 is missing/) });

    // An attacker posing a later checkpoint as the anchor to drop records: no prune record names it.
    expect(await verifyAfterTampering(t.services, async (trx) => {
      await sql`insert into audit_anchors (tree_size, root_hash, compact_range) select tree_size, root_hash, compact_range from audit_checkpoints where tree_size = 40`.execute(trx);
      await sql`delete from audit_records where seq <= 40`.execute(trx);
    })).toMatchObject({ ok: false, seq: 41, reason: expect.stringMatching(/no retained audit.pruned record names the anchor/) });

    const exported = await runAuditCli(['audit', 'export'], t.services, t.dataDir);
    const file = path.join(t.dataDir, 'pruned.jsonl');
    await fs.writeFile(file, exported.stdout.replace('"i":5', '"i":6'));
    expect(await runAuditCli(['audit', 'verify', '--file', file], undefined, t.dataDir)).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/failed at seq 36/) });
    await fs.writeFile(file, exported.stdout);
    expect(await runAuditCli(['audit', 'verify', '--file', file], undefined, t.dataDir)).toMatchObject({ exitCode: 0 });
  });

  it('verify --checkpoint after a prune: a checkpoint at or after the anchor is checked; an older one fails, saying why', async () => {
    const notes = new Map((await t.services.db.selectFrom('audit_checkpoints').select(['tree_size', 'note']).execute()).map((c) => [Number(c.tree_size), c.note]));
    const snapshot = () => readAuditSnapshot(t.services.db);
    expect(await verifyAuditLog(await snapshot(), { checkpoint: notes.get(30)! })).toMatchObject({ ok: true, keptCheckpoint: { treeSize: 30 }, anchor: { treeSize: 30 } });
    expect(await verifyAuditLog(await snapshot(), { checkpoint: notes.get(40)! })).toMatchObject({ ok: true, keptCheckpoint: { treeSize: 40 } });
    expect(await verifyAuditLog(await snapshot(), { checkpoint: notes.get(20)! })).toMatchObject({
      ok: false,
      seq: 20,
      reason: expect.stringMatching(/^cannot check: the checkpoint you kept covers 20 records and the log was pruned through tree size 30; .* still holds a signed checkpoint of size 20 with the same root, but that is its own word/),
    });
    // An export made before the prune still checks it in full: see the first test's export.
    await fs.writeFile(path.join(t.dataDir, 'kept-20.checkpoint'), notes.get(20)!);
    expect(await runAuditCli(['audit', 'verify', '--file', 'since.jsonl', '--checkpoint', 'kept-20.checkpoint'], undefined, t.dataDir)).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/export starts at tree size 30 \(--since\)/) });
  });

  it('the prune routine cannot delete beyond its anchor', async () => {
    await expect(
      t.services.db.transaction().execute(async (trx) => {
        await sql`select set_config('countersign.audit_prune', 'on', true)`.execute(trx);
        await sql`delete from audit_records where seq = 31`.execute(trx);
      }),
    ).rejects.toThrow(/append-only/);
  });
});
