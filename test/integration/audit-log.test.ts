import { randomBytes, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { appendAuditRecord } from '../../src/audit/append-audit-record.ts';
import { recordHash, type AuditRecordBody } from '../../src/audit/audit-record.ts';
import { signExportHead } from '../../src/audit/export-head.ts';
import { createCompactRange, leafHash } from '../../src/audit/merkle-tree.ts';
import { readAuditSnapshot, toAuditRecord } from '../../src/audit/read-audit-snapshot.ts';
import { signerFromPem } from '../../src/primitives/signing-key.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { appendTestRecords, runAuditCli, startAuditServices, verifyAfterTampering, type AuditTestServices } from '../helpers/audit-fixtures.ts';

/** What a record's hash covers: the stored row without its hash and signature. */
const body = (row: Parameters<typeof toAuditRecord>[0]): AuditRecordBody => {
  const { hash: _hash, signature: _signature, ...covered } = toAuditRecord(row);
  return covered;
};

describeEachDatabase('audit log: append-only, tamper-evident', (database) => {
  let t: AuditTestServices;

  // seq 1 is the signing key's registration; a checkpoint covers 1..30; records go up to 40.
  beforeAll(async () => {
    t = await startAuditServices(database);
    await appendTestRecords(t.services, 29);
    expect(await t.services.audit.checkpoint()).toMatchObject({ treeSize: 30 });
    await appendTestRecords(t.services, 10, 'later');
  });
  afterAll(() => t?.close());

  it('verifies the untouched log', async () => {
    expect(await verifyAuditLog(await readAuditSnapshot(t.services.db))).toMatchObject({ ok: true, records: 40, firstSeq: 1, lastSeq: 40, checkpoints: 1, keys: 1 });
  });

  it('refuses UPDATE, DELETE and TRUNCATE in the database, also with session_replication_role = replica', async () => {
    const { db } = t.services;
    await expect(sql`update audit_records set event = 'x' where seq = 3`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from audit_records where seq = 3`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`truncate audit_records`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`delete from audit_checkpoints`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`update audit_signing_keys set public_key = 'x'`.execute(db)).rejects.toThrow(/append-only/);
    await expect(sql`update audit_head set seq = 1`.execute(db)).rejects.toThrow(/only moves forward/);
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`set local session_replication_role = replica`.execute(trx);
        await sql`update audit_records set event = 'x' where seq = 3`.execute(trx);
      }),
    ).rejects.toThrow(/append-only/);
    // The prune switch alone allows nothing: only records an anchor already covers may go.
    await expect(
      db.transaction().execute(async (trx) => {
        await sql`select set_config('countersign.audit_prune', 'on', true)`.execute(trx);
        await sql`delete from audit_records where seq = 1`.execute(trx);
      }),
    ).rejects.toThrow(/append-only/);
    expect(await verifyAuditLog(await readAuditSnapshot(db))).toMatchObject({ ok: true, records: 40 });
  });

  it('catches a changed field at its sequence number', async () => {
    const report = await verifyAfterTampering(t.services, async (trx) => {
      await sql`update audit_records set data = '{"i": 999}'::jsonb where seq = 12`.execute(trx);
    });
    expect(report).toMatchObject({ ok: false, seq: 12, reason: expect.stringMatching(/hash does not match/) });
  });

  it('catches a deleted row', async () => {
    const report = await verifyAfterTampering(t.services, async (trx) => {
      await sql`delete from audit_records where seq = 12`.execute(trx);
    });
    expect(report).toMatchObject({ ok: false, seq: 12, reason: expect.stringMatching(/record 12 is missing/) });
  });

  it('catches two rows swapped', async () => {
    const report = await verifyAfterTampering(t.services, async (trx) => {
      await sql`update audit_records set seq = -1 where seq = 12`.execute(trx);
      await sql`update audit_records set seq = 12 where seq = 13`.execute(trx);
      await sql`update audit_records set seq = 13 where seq = -1`.execute(trx);
    });
    expect(report).toMatchObject({ ok: false, seq: 12 });
  });

  it('catches a forged row inserted with a fresh hash, at the end or in place of another', async () => {
    const atEnd = await verifyAfterTampering(t.services, async (trx) => {
      const last = await trx.selectFrom('audit_records').selectAll().where('seq', '=', 40).executeTakeFirstOrThrow();
      const forged: AuditRecordBody = { ...body(last), seq: 41, approvalId: null, prevHash: last.hash, data: { forged: true } };
      const hash = recordHash(forged);
      await sql`insert into audit_records (seq, time, approval_id, event, actor, data, prev_hash, hash, signature, key_id)
        values (41, ${last.time}, null, ${forged.event}, ${JSON.stringify(forged.actor)}::jsonb, ${JSON.stringify(forged.data)}::jsonb, ${forged.prevHash}, ${hash}, ${randomBytes(64).toString('base64')}, ${forged.keyId})`.execute(trx);
      await sql`update audit_head set seq = 41, hash = ${hash}`.execute(trx);
    });
    expect(atEnd).toMatchObject({ ok: false, seq: 41, reason: expect.stringMatching(/signature does not verify/) });

    const inPlace = await verifyAfterTampering(t.services, async (trx) => {
      const row = await trx.selectFrom('audit_records').selectAll().where('seq', '=', 20).executeTakeFirstOrThrow();
      const forged = { ...body(row), data: { i: 'forged' } };
      await sql`update audit_records set data = ${JSON.stringify(forged.data)}::jsonb, hash = ${recordHash(forged)} where seq = 20`.execute(trx);
    });
    expect(inPlace).toMatchObject({ ok: false, seq: 20, reason: expect.stringMatching(/signature/) });
  });

  it('catches a changed signature', async () => {
    const report = await verifyAfterTampering(t.services, async (trx) => {
      await sql`update audit_records set signature = (select signature from audit_records where seq = 13) where seq = 12`.execute(trx);
    });
    expect(report).toMatchObject({ ok: false, seq: 12, reason: expect.stringMatching(/signature does not verify/) });
  });

  it('catches the tail cut after a checkpoint, even with the head rewound to match', async () => {
    const report = await verifyAfterTampering(t.services, async (trx) => {
      await sql`delete from audit_records where seq > 25`.execute(trx);
      await sql`update audit_head set seq = 25, hash = (select hash from audit_records where seq = 25)`.execute(trx);
    });
    expect(report).toMatchObject({ ok: false, seq: 26, reason: expect.stringMatching(/checkpoint covers 30/) });
  });

  it('catches a record signed by an unknown key', async () => {
    const intruder = signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    const report = await verifyAfterTampering(t.services, async (trx) => {
      const row = await trx.selectFrom('audit_records').selectAll().where('seq', '=', 12).executeTakeFirstOrThrow();
      const forged = { ...body(row), keyId: intruder.keyId };
      const hash = recordHash(forged);
      await sql`update audit_records set key_id = ${intruder.keyId}, hash = ${hash}, signature = ${intruder.sign(Buffer.from(hash, 'hex')).toString('base64')} where seq = 12`.execute(trx);
    });
    expect(report).toMatchObject({ ok: false, seq: 12, reason: expect.stringMatching(/unknown key/) });
  });

  it('audit verify, export and offline verify --file (no database) through the CLI', async () => {
    const ok = await runAuditCli(['audit', 'verify'], t.services, t.dataDir);
    expect(ok).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/verifies: 40 records \(seq 1–40\)/) });

    const exported = await runAuditCli(['audit', 'export', '--format', 'jsonl'], t.services, t.dataDir);
    expect(exported.exitCode).toBe(0);
    const lines = exported.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { type: string; seq?: number; data?: unknown });
    expect(lines.map((l) => l.type).filter((type, i, all) => all.indexOf(type) === i)).toEqual(['log', 'key', 'checkpoint', 'record']);
    expect(lines.filter((l) => l.type === 'record')).toHaveLength(40);
    const file = path.join(t.dataDir, 'export.jsonl');
    await fs.writeFile(file, exported.stdout);
    const offline = await runAuditCli(['audit', 'verify', '--file', 'export.jsonl', '--json'], undefined, t.dataDir);
    expect(offline.exitCode).toBe(0);
    expect(JSON.parse(offline.stdout)).toMatchObject({ ok: true, records: 40, checkpoints: 1 });

    const tampered = lines.map((l) => (l.type === 'record' && l.seq === 7 ? { ...l, data: { i: 'changed' } } : l));
    await fs.writeFile(file, tampered.map((l) => JSON.stringify(l)).join('\n'));
    const bad = await runAuditCli(['audit', 'verify', '--file', file], undefined, t.dataDir);
    expect(bad).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/failed at seq 7: hash does not match/) });

    await fs.writeFile(file, lines.filter((l) => !(l.type === 'record' && l.seq === 33)).map((l) => JSON.stringify(l)).join('\n'));
    expect(await runAuditCli(['audit', 'verify', '--file', file], undefined, t.dataDir)).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/seq 33: record 33 is missing/) });
  });

  it('verify --trusted-key refuses a log re-signed end to end by someone else, which its own listed keys would pass', async () => {
    const exported = await runAuditCli(['audit', 'export'], t.services, t.dataDir);
    const lines = exported.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown> & { type: string });
    // Whoever can rewrite the file re-chains every record under a key of their own and lists only that key.
    const intruder = signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    let prevHash = '0'.repeat(64);
    const forged: Array<Record<string, unknown>> = [];
    for (const line of lines) {
      if (line.type === 'checkpoint') continue;
      if (line.type === 'key') {
        if (!forged.some((l) => l.type === 'key')) forged.push({ type: 'key', keyId: intruder.keyId, publicKey: intruder.publicKeyPem });
        continue;
      }
      if (line.type !== 'record') {
        forged.push(line);
        continue;
      }
      const { type: _type, hash: _hash, signature: _signature, ...record } = line as unknown as AuditRecordBody & { type: string; hash: string; signature: string };
      const resigned = { ...record, data: line.seq === 5 ? { rewritten: true } : record.data, prevHash, keyId: intruder.keyId };
      const hash = recordHash(resigned);
      forged.push({ type: 'record', ...resigned, hash, signature: intruder.sign(Buffer.from(hash, 'hex')).toString('base64') });
      prevHash = hash;
    }
    // …and signs the export's head with it too: the tree over the rewritten records, no checkpoints.
    const log = forged.find((l) => l.type === 'log') as { origin: string; exportedAt: string; head: { seq: number; hash: string }; signedHead: string };
    log.head.hash = prevHash;
    const tree = createCompactRange();
    for (const l of forged) if (l.type === 'record') tree.append(leafHash(Buffer.from(l.hash as string, 'hex')));
    log.signedHead = signExportHead(log.origin, { exportedAt: log.exportedAt, start: 0, treeSize: log.head.seq, root: tree.root(), headHash: prevHash, checkpoints: 0 }, intruder);
    await fs.writeFile(path.join(t.dataDir, 'forged.jsonl'), forged.map((l) => JSON.stringify(l)).join('\n'));
    await fs.writeFile(path.join(t.dataDir, 'server-key.pem'), ((await t.services.db.selectFrom('audit_signing_keys').select('public_key').execute()).map((k) => k.public_key)).join(''));

    expect(await runAuditCli(['audit', 'verify', '--file', 'forged.jsonl'], undefined, t.dataDir)).toMatchObject({ exitCode: 0 });
    expect(await runAuditCli(['audit', 'verify', '--file', 'forged.jsonl', '--trusted-key', 'server-key.pem'], undefined, t.dataDir)).toMatchObject({
      exitCode: 1,
      // Its head is signed by the intruder's key too: that is the first thing the trusted key refuses.
      stderr: expect.stringMatching(/failed at seq 0: the export's signed head is signed by key [0-9a-f]{16}, which is not a trusted key/),
    });
    const genuine = await runAuditCli(['audit', 'verify', '--trusted-key', 'server-key.pem'], t.services, t.dataDir);
    expect(genuine).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/verifies: .* 1 trusted signing keys/) });
    await fs.writeFile(path.join(t.dataDir, 'not-a-key.pem'), 'hello');
    expect(await runAuditCli(['audit', 'verify', '--trusted-key', 'not-a-key.pem'], undefined, t.dataDir)).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/--trusted-key not-a-key.pem: no "BEGIN PUBLIC KEY" block/) });
  });

  it('chains after the last committed record when appends roll back between committed ones', async () => {
    const { db, audit } = t.services;
    const head = async () => Number((await db.selectFrom('audit_head').select('seq').executeTakeFirstOrThrow()).seq);
    const before = await head();
    const entry = (i: number) => ({ event: 'approval.requested', approvalId: `apr_rollback_${i}`, actor: { kind: 'system', id: 'rollback', via: 'test' }, data: { i } }) as const;
    const rolledBack = (i: number) =>
      expect(
        db.transaction().execute(async (trx) => {
          await audit.append(trx, entry(i));
          await audit.append(trx, entry(i + 100));
          throw new Error('the change this entry describes failed');
        }),
      ).rejects.toThrow(/failed/);
    await rolledBack(1);
    await db.transaction().execute((trx) => audit.append(trx, entry(2)));
    await rolledBack(3);
    await rolledBack(4);
    await db.transaction().execute(async (trx) => {
      await audit.append(trx, entry(5));
      await audit.append(trx, entry(6));
    });
    await audit.flush();
    const added = await db.selectFrom('audit_records').select(['seq', 'approval_id']).where('seq', '>', before).orderBy('seq').execute();
    expect(added.map((r) => [Number(r.seq), r.approval_id])).toEqual([
      [before + 1, 'apr_rollback_2'],
      [before + 2, 'apr_rollback_5'],
      [before + 3, 'apr_rollback_6'],
    ]);
    expect(await head()).toBe(before + 3);
    expect(await verifyAuditLog(await readAuditSnapshot(db))).toMatchObject({ ok: true, lastSeq: before + 3 });
  });

  it('never chains after a head that moved behind its back: inline, that change fails with nothing written, and the next chains after the real head', async () => {
    const { db, audit } = t.services;
    const before = Number((await db.selectFrom('audit_head').select('seq').executeTakeFirstOrThrow()).seq);
    // Another writer, not this log's own appends, moves the head.
    await db.transaction().execute((trx) => appendAuditRecord(trx, audit.signer, { event: 'approval.requested', approvalId: 'apr_elsewhere', actor: { kind: 'system', id: 'elsewhere', via: 'test' } }, new Date()));
    const change = (marker: string) =>
      db.transaction().execute((trx) =>
        audit.appendWith(trx, { event: 'approval.cancelled', approvalId: marker, actor: { kind: 'system', id: 'test', via: 'test' } }, (q) =>
          q
            .insertInto('review_settings')
            .values({ id: true, settings: JSON.stringify({ marker }) })
            .onConflict((oc) => oc.column('id').doUpdateSet({ settings: JSON.stringify({ marker }) }))
            .execute(),
        ),
      );
    const marker = async () => ((await db.selectFrom('review_settings').select('settings').executeTakeFirst())?.settings as { marker?: string } | undefined)?.marker;
    const inline = audit.appendWithAlone === undefined;
    if (inline) {
      await expect(change('apr_after_1')).rejects.toThrow(/audit head moved outside this process/);
      expect(await marker()).not.toBe('apr_after_1');
    } else {
      // Queued (PostgreSQL), entries are chained later under the head's lock: nothing to refuse.
      await change('apr_after_1');
    }
    await change('apr_after_2');
    expect(await marker()).toBe('apr_after_2');
    await audit.flush();
    const added = (await db.selectFrom('audit_records').select('approval_id').where('seq', '>', before).orderBy('seq').execute()).map((r) => r.approval_id);
    expect(added).toEqual(inline ? ['apr_elsewhere', 'apr_after_2'] : ['apr_elsewhere', 'apr_after_1', 'apr_after_2']);
    expect(await verifyAuditLog(await readAuditSnapshot(db))).toMatchObject({ ok: true, lastSeq: before + added.length });
  });

  it('8 concurrent writers × 500 appends give a gapless log that verifies', async () => {
    const before = Number((await t.services.db.selectFrom('audit_head').select('seq').executeTakeFirstOrThrow()).seq);
    await Promise.all(Array.from({ length: 8 }, (_, w) => appendTestRecords(t.services, 500, `writer${w}`)));
    const seqs = (await t.services.db.selectFrom('audit_records').select('seq').where('seq', '>', before).orderBy('seq').execute()).map((r) => Number(r.seq));
    expect(seqs).toHaveLength(4000);
    expect(seqs.every((seq, i) => seq === before + i + 1)).toBe(true);
    await t.services.audit.checkpoint();
    expect(await verifyAuditLog(await readAuditSnapshot(t.services.db))).toMatchObject({ ok: true, records: before + 4000, checkpoints: 2 });
  }, 120_000);
});
