import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { integratePendingAudit, queueAuditEntry } from '../../src/audit/audit-queue.ts';
import { readAuditSnapshot } from '../../src/audit/read-audit-snapshot.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startAuditServices, verifyAfterTampering, type AuditTestServices } from '../helpers/audit-fixtures.ts';

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
    await expect(sql`delete from audit_pending`.execute(t.services.db)).rejects.toThrow(/leave the queue only into the chain/);
    await expect(sql`truncate audit_pending`.execute(t.services.db)).rejects.toThrow(/never changed/);
    await t.services.audit.flush();
    expect(await pendingCount()).toBe(0);
  });

  const queueOne = async (approvalId: string) => {
    await t.services.db.transaction().execute((trx) => queueAuditEntry(trx, { event: 'approval.decided', approvalId, actor, data: { status: 'approved' } }, new Date()));
    return (await t.services.db.selectFrom('audit_pending').select('id').where('approval_id', '=', approvalId).executeTakeFirstOrThrow()).id;
  };

  it('an ordinary session that sets every setting it likes still cannot delete an unchained queued entry', async () => {
    const { db } = t.services;
    const id = await queueOne('apr_hidden');
    await expect(
      db.transaction().execute(async (trx) => {
        // The old guard's switch, the prune's switch, and replica mode (which skips ordinary triggers).
        await sql`select set_config('countersign.audit_integrate', 'on', true), set_config('countersign.audit_prune', 'on', true)`.execute(trx);
        await sql`set local session_replication_role = replica`.execute(trx);
        await sql`delete from audit_pending where id = ${id}`.execute(trx);
      }),
    ).rejects.toThrow(/leave the queue only into the chain: 1 of 1/);
    // A record naming the entry, written where the head does not reach, does not count.
    await expect(
      sql`with gone as (delete from audit_pending where id = ${id} returning *)
        insert into audit_records (seq, time, approval_id, event, actor, data, prev_hash, hash, signature, key_id, pending_id)
        select 1000000, time, approval_id, event, actor, data, ${'1'.repeat(64)}, ${'2'.repeat(64)}, 'x', 'k', id from gone`.execute(db),
    ).rejects.toThrow(/leave the queue only into the chain/);
    // Nor does a changed copy at the head: the chained record must be the entry unchanged.
    await expect(
      db.transaction().execute(async (trx) => {
        const head = Number((await trx.selectFrom('audit_head').select('seq').executeTakeFirstOrThrow()).seq);
        await sql`update audit_head set seq = ${head + 1}, hash = ${'2'.repeat(64)}`.execute(trx);
        await sql`with gone as (delete from audit_pending where id = ${id} returning *)
          insert into audit_records (seq, time, approval_id, event, actor, data, prev_hash, hash, signature, key_id, pending_id)
          select ${head + 1}, time, approval_id, event, actor, '{"status":"rejected"}'::jsonb, ${'1'.repeat(64)}, ${'2'.repeat(64)}, 'x', 'k', id from gone`.execute(trx);
      }),
    ).rejects.toThrow(/leave the queue only into the chain/);
    expect(await db.selectFrom('audit_pending').select('id').where('id', '=', id).execute()).toHaveLength(1);
    // The integrator still chains it.
    await t.services.audit.flush();
    expect(await pendingCount()).toBe(0);
    expect(await db.selectFrom('audit_records').select(['event', 'pending_id']).where('approval_id', '=', 'apr_hidden').execute()).toEqual([{ event: 'approval.decided', pending_id: expect.anything() }]);
  });

  it('the only delete that passes writes the entry, unchanged, into the chain, where verify catches the forged signature', async () => {
    const id = await queueOne('apr_forged_move');
    const report = await verifyAfterTampering(t.services, async (trx) => {
      const head = await trx.selectFrom('audit_head').select(['seq', 'hash']).executeTakeFirstOrThrow();
      const seq = Number(head.seq) + 1;
      await sql`update audit_head set seq = ${seq}, hash = ${'2'.repeat(64)}`.execute(trx);
      await sql`with gone as (delete from audit_pending where id = ${id} returning *)
        insert into audit_records (seq, time, approval_id, event, actor, data, prev_hash, hash, signature, key_id, pending_id)
        select ${seq}, time, approval_id, event, actor, data, ${head.hash}, ${'2'.repeat(64)}, ${randomBytes(64).toString('base64')}, ${t.services.signer.keyId}, id from gone`.execute(trx);
    });
    expect(report).toMatchObject({ ok: false, reason: expect.stringMatching(/hash does not match|signature/) });
    await t.services.audit.flush();
    expect(await pendingCount()).toBe(0);
  });

  it.runIf(database.name === 'postgres')('an application role that does not own the queue can neither delete an entry nor switch the guard off', async () => {
    const { db } = t.services;
    const role = `countersign_app_${randomBytes(4).toString('hex')}`;
    const id = await queueOne('apr_app_role');
    await sql`create role ${sql.raw(role)}`.execute(db);
    try {
      await sql`grant select, insert, delete on audit_pending, audit_records, audit_head to ${sql.raw(role)}`.execute(db);
      const asApp = (statement: ReturnType<typeof sql>) =>
        db.transaction().execute(async (trx) => {
          await sql`set local role ${sql.raw(role)}`.execute(trx);
          await sql`select set_config('countersign.audit_integrate', 'on', true)`.execute(trx);
          await statement.execute(trx);
        });
      await expect(asApp(sql`delete from audit_pending where id = ${id}`)).rejects.toThrow(/leave the queue only into the chain/);
      await expect(asApp(sql`alter table audit_pending disable trigger audit_pending_only_chained`)).rejects.toThrow(/must be owner/);
      await expect(asApp(sql`drop trigger audit_pending_only_chained on audit_pending`)).rejects.toThrow(/must be owner/);
    } finally {
      await sql`drop owned by ${sql.raw(role)}`.execute(db);
      await sql`drop role ${sql.raw(role)}`.execute(db);
    }
    await t.services.audit.flush();
    expect(await pendingCount()).toBe(0);
  });
});
