import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { integratePendingAudit, queueAuditEntry } from '../../src/audit/audit-queue.ts';
import { readAuditSnapshot } from '../../src/audit/read-audit-snapshot.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startAuditServices, type AuditTestServices } from '../helpers/audit-fixtures.ts';

const actor = { kind: 'system' as const, id: 'queue-test', via: 'test' };

describeEachDatabase('the audit queue', (database) => {
  let t: AuditTestServices;

  beforeAll(async () => {
    t = await startAuditServices(database);
  });
  afterAll(() => t?.close());

  const pendingCount = async () => Number((await t.services.db.selectFrom('audit_pending').select((eb) => eb.fn.countAll<string | number>().as('n')).executeTakeFirstOrThrow()).n);

  it('keeps an entry only when the transaction that queued it commits', async () => {
    const before = await pendingCount();
    await expect(
      t.services.db.transaction().execute(async (trx) => {
        await queueAuditEntry(trx, { event: 'approval.requested', approvalId: 'apr_rolled_back', actor }, new Date());
        throw new Error('the state change failed');
      }),
    ).rejects.toThrow('the state change failed');
    expect(await pendingCount()).toBe(before);
  });

  it('chains queued entries in order into a gapless log that verifies, and empties the queue', async () => {
    for (let i = 0; i < 30; i += 1) {
      await t.services.db.transaction().execute((trx) => queueAuditEntry(trx, { event: 'approval.requested', approvalId: `apr_q_${i}`, actor, data: { i } }, new Date()));
    }
    expect(await pendingCount()).toBeGreaterThanOrEqual(30);
    while ((await integratePendingAudit(t.services.db, t.services.signer, 7)) > 0);
    expect(await pendingCount()).toBe(0);
    const chained = await t.services.db.selectFrom('audit_records').select(['approval_id', 'data']).where('approval_id', 'like', 'apr_q_%').orderBy('seq').execute();
    expect(chained.map((r) => r.approval_id)).toEqual(Array.from({ length: 30 }, (_, i) => `apr_q_${i}`));
    expect(await verifyAuditLog(await readAuditSnapshot(t.services.db))).toMatchObject({ ok: true, firstSeq: 1 });
  });

  it('refuses to change or remove a queued entry outside the integrator', async () => {
    await t.services.db.transaction().execute((trx) => queueAuditEntry(trx, { event: 'approval.cancelled', approvalId: 'apr_guarded', actor }, new Date()));
    await expect(sql`update audit_pending set event = 'x'`.execute(t.services.db)).rejects.toThrow(/never changed/);
    await expect(sql`delete from audit_pending`.execute(t.services.db)).rejects.toThrow(/never changed/);
    await expect(sql`truncate audit_pending`.execute(t.services.db)).rejects.toThrow(/never changed/);
    await t.services.audit.flush();
    expect(await pendingCount()).toBe(0);
  });
});
