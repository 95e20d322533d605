import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { sql, type Transaction } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chainEntries } from '../../src/audit/append-audit-record.ts';
import { readAuditSnapshot, toAuditRecord } from '../../src/audit/read-audit-snapshot.ts';
import { signerFromPem, type Signer } from '../../src/primitives/signing-key.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import type { Database } from '../../src/db/schema.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { appendTestRecords, runAuditCli, startAuditServices, verifyAfterTampering, type AuditTestServices } from '../helpers/audit-fixtures.ts';

const intruder = signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());

/**
 * Rewrites records `from`..head with other data, re-chained and re-signed by `signer` (the
 * real key: an insider; or another key), and drops the checkpoints that would expose it,
 * with the head's checkpoint count wound back to match: a fork the log alone cannot show.
 */
async function forkFrom(trx: Transaction<Database>, from: number, signer: Signer): Promise<void> {
  const rows = await trx.selectFrom('audit_records').selectAll().where('seq', '>=', from).orderBy('seq').execute();
  const before = await trx.selectFrom('audit_records').select('hash').where('seq', '=', from - 1).executeTakeFirstOrThrow();
  const rewritten = await chainEntries(
    { seq: from - 1, hash: before.hash },
    rows.map((row) => {
      const r = toAuditRecord(row);
      return { entry: { event: r.event as 'approval.requested', approvalId: r.approvalId, actor: r.actor, data: { ...r.data, rewritten: true } }, time: new Date(r.time) };
    }),
    signer,
  );
  for (const r of rewritten) {
    await sql`update audit_records set data = ${JSON.stringify(r.data)}::jsonb, prev_hash = ${r.prevHash}, hash = ${r.hash}, signature = ${r.signature}, key_id = ${r.keyId} where seq = ${r.seq}`.execute(trx);
  }
  await sql`update audit_head set hash = ${rewritten.at(-1)!.hash}`.execute(trx);
  const kept = await trx.selectFrom('audit_checkpoints').select('tree_size').where('tree_size', '<', from).execute();
  await sql`delete from audit_checkpoints where tree_size >= ${from}`.execute(trx);
  await sql`update audit_head set checkpoints = ${kept.length}`.execute(trx);
}

describeEachDatabase('audit log: cut back, forked, checkpoints deleted', (database) => {
  let t: AuditTestServices;
  /** The checkpoint an auditor kept at tree size 30 (as served by GET /v1/audit/checkpoint). */
  let kept: string;

  // seq 1 is the key's registration; checkpoints #1 at 10, #2 at 30, #3 at 40.
  beforeAll(async () => {
    t = await startAuditServices(database);
    await appendTestRecords(t.services, 9);
    await t.services.audit.checkpoint();
    await appendTestRecords(t.services, 20, 'mid');
    kept = (await t.services.audit.checkpoint())!.note;
    await appendTestRecords(t.services, 10, 'later');
    expect(await t.services.audit.checkpoint()).toMatchObject({ treeSize: 40, number: 3 });
    await fs.writeFile(path.join(t.dataDir, 'kept.checkpoint'), kept);
  });
  afterAll(() => t?.close());

  it('verify --checkpoint passes on the untouched log and its export, and says so', async () => {
    expect(await verifyAuditLog(await readAuditSnapshot(t.services.db), { checkpoint: kept })).toMatchObject({ ok: true, lastSeq: 40, checkpoints: 3, keptCheckpoint: { treeSize: 30 } });
    const human = await runAuditCli(['audit', 'verify', '--checkpoint', 'kept.checkpoint'], t.services, t.dataDir);
    expect(human).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/It extends the checkpoint you kept \(tree size 30/) });
    const exported = await runAuditCli(['audit', 'export'], t.services, t.dataDir);
    await fs.writeFile(path.join(t.dataDir, 'whole.jsonl'), exported.stdout);
    const offline = await runAuditCli(['audit', 'verify', '--file', 'whole.jsonl', '--checkpoint', 'kept.checkpoint', '--json'], undefined, t.dataDir);
    expect(offline.exitCode).toBe(0);
    expect(JSON.parse(offline.stdout)).toMatchObject({ ok: true, records: 40, keptCheckpoint: { treeSize: 30 } });
  });

  it('catches the log cut back below the kept checkpoint, with every trace in the database removed', async () => {
    const attack = async (trx: Transaction<Database>) => {
      await sql`delete from audit_records where seq > 25`.execute(trx);
      await sql`update audit_head set seq = 25, hash = (select hash from audit_records where seq = 25), checkpoints = 1`.execute(trx);
      await sql`delete from audit_checkpoints where tree_size > 25`.execute(trx);
    };
    // Cut that cleanly, the log is self-consistent: only the kept checkpoint shows it.
    expect(await verifyAfterTampering(t.services, attack)).toMatchObject({ ok: true, lastSeq: 25 });
    expect(await verifyAfterTampering(t.services, attack, { checkpoint: kept })).toMatchObject({ ok: false, seq: 26, reason: 'cut back: the log has 25 records, the checkpoint you kept covers 30' });
  });

  it('catches a suffix rewritten and re-signed with the real key (a fork), which the log alone cannot show', async () => {
    expect(await verifyAfterTampering(t.services, (trx) => forkFrom(trx, 20, t.services.signer))).toMatchObject({ ok: true, lastSeq: 40, checkpoints: 1 });
    expect(await verifyAfterTampering(t.services, (trx) => forkFrom(trx, 20, t.services.signer), { checkpoint: kept })).toMatchObject({
      ok: false,
      seq: 30,
      reason: expect.stringMatching(/^forked: the log's first 30 records do not match the checkpoint you kept \(root [0-9a-f]{64}; the log's is [0-9a-f]{64}\)$/),
    });
    // A fork after the kept checkpoint is not this check's business: the log still extends it.
    expect(await verifyAfterTampering(t.services, (trx) => forkFrom(trx, 35, t.services.signer), { checkpoint: kept })).toMatchObject({ ok: true });
  });

  it('catches a suffix re-signed with another key, even when the log lists that key', async () => {
    const report = await verifyAfterTampering(
      t.services,
      async (trx) => {
        await forkFrom(trx, 20, intruder);
        await trx.insertInto('audit_signing_keys').values({ key_id: intruder.keyId, public_key: intruder.publicKeyPem }).execute();
      },
      { checkpoint: kept },
    );
    expect(report).toMatchObject({ ok: false, seq: 30, reason: expect.stringMatching(/^forked: /) });
    // Pinned to the real key, the records themselves fail first.
    const pinned = await verifyAfterTampering(t.services, (trx) => forkFrom(trx, 20, intruder), { checkpoint: kept, trustedKeys: [t.services.signer.publicKeyPem] });
    expect(pinned).toMatchObject({ ok: false, seq: 20, reason: expect.stringMatching(/not a trusted key/) });
  });

  it('refuses a kept checkpoint that this log did not sign, or of another log', async () => {
    const { signCheckpoint, openCheckpoint } = await import('../../src/audit/checkpoint-note.ts');
    const genuine = openCheckpoint(kept, (await t.services.db.selectFrom('audit_head').select('origin').executeTakeFirstOrThrow()).origin, new Map([[t.services.signer.keyId, t.services.signer.publicKey]]));
    if (!genuine.ok) throw new Error(genuine.reason);
    const byIntruder = signCheckpoint(genuine.checkpoint, intruder);
    expect(await verifyAuditLog(await readAuditSnapshot(t.services.db), { checkpoint: byIntruder })).toMatchObject({ ok: false, reason: expect.stringMatching(/the checkpoint you kept does not verify with this log's keys: no valid signature/) });
    const otherLog = signCheckpoint({ ...genuine.checkpoint, origin: 'countersign/another' }, t.services.signer);
    expect(await verifyAuditLog(await readAuditSnapshot(t.services.db), { checkpoint: otherLog })).toMatchObject({ ok: false, reason: expect.stringMatching(/is of log "countersign\/another"/) });
    await fs.writeFile(path.join(t.dataDir, 'bad.checkpoint'), byIntruder);
    expect(await runAuditCli(['audit', 'verify', '--checkpoint', 'bad.checkpoint'], t.services, t.dataDir)).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/does not verify/) });
    expect(await runAuditCli(['audit', 'verify', '--checkpoint', 'missing.checkpoint'], t.services, t.dataDir)).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/--checkpoint missing.checkpoint: cannot read it \(ENOENT\)/) });
  });

  it('reports a checkpoint deleted from the database, in the middle or the latest', async () => {
    expect(await verifyAfterTampering(t.services, (trx) => sql`delete from audit_checkpoints where tree_size = 30`.execute(trx).then(() => undefined))).toMatchObject({
      ok: false,
      seq: 30,
      reason: 'checkpoint #2 (tree size 30) is missing: checkpoint #3 (tree size 40) follows it',
    });
    expect(await verifyAfterTampering(t.services, (trx) => sql`delete from audit_checkpoints where tree_size = 40`.execute(trx).then(() => undefined))).toMatchObject({
      ok: false,
      reason: "checkpoints #3–#3 are missing: the log's head counts 3 signed checkpoints, 2 are present",
    });
    // Renumbering does not help: the links are signed.
    expect(
      await verifyAfterTampering(t.services, async (trx) => {
        await sql`delete from audit_checkpoints where tree_size = 10`.execute(trx);
        await sql`update audit_checkpoints set number = number - 1`.execute(trx);
        await sql`update audit_head set checkpoints = 2`.execute(trx);
      }),
    ).toMatchObject({ ok: false, seq: 10, reason: 'checkpoint #1 (tree size 10) is missing: checkpoint #2 (tree size 30) follows it' });
  });

  it('accepts checkpoints signed before they were numbered only ahead of the numbered ones', async () => {
    // As a log upgraded through migration 0009 has them: the first checkpoint without a link.
    expect(await verifyAfterTampering(t.services, (trx) => sql`update audit_checkpoints set number = null, link = null where tree_size = 10`.execute(trx).then(() => undefined))).toMatchObject({ ok: true, checkpoints: 3 });
    // A link stripped from a later one is not an upgrade.
    expect(await verifyAfterTampering(t.services, (trx) => sql`update audit_checkpoints set number = null, link = null where tree_size = 40`.execute(trx).then(() => undefined))).toMatchObject({
      ok: false,
      seq: 40,
      reason: 'checkpoint of tree size 40 has no signed link, yet follows numbered checkpoints',
    });
  });

  it('an export whose tail is cut, whose head is edited, or that lacks checkpoint lines fails on its own, with no kept checkpoint', async () => {
    const exported = (await runAuditCli(['audit', 'export'], t.services, t.dataDir)).stdout;
    const lines = exported.trimEnd().split('\n');
    const file = path.join(t.dataDir, 'cut.jsonl');
    const verifyLines = async (text: string) => {
      await fs.writeFile(file, text);
      return runAuditCli(['audit', 'verify', '--file', file], undefined, t.dataDir);
    };
    expect(await verifyLines(exported)).toMatchObject({ exitCode: 0 });

    // The last 12 records cut off at a line end: fewer than the signed head announces.
    expect(await verifyLines(lines.slice(0, -12).join('\n'))).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/failed at seq 29: cut back: the export holds records up to 28, its signed head announces 40/) });
    // …with the checkpoint at 30 dropped as well and the unsigned header edited to match.
    const header = JSON.parse(lines[0]!) as { head: { seq: number; hash: string } };
    const last = JSON.parse(lines.at(-13)!) as { hash: string };
    const edited = [JSON.stringify({ ...header, head: { seq: 28, hash: last.hash } }), ...lines.slice(1, -12).filter((l) => !/"type":"checkpoint","treeSize":(30|40)/.test(l))];
    expect(await verifyLines(edited.join('\n'))).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/failed at seq 11: checkpoints #2–#3 are missing: the export's signed head counts 3 signed checkpoints, 1 are present/) });
    // Cut in the middle of a line.
    expect(await verifyLines(exported.slice(0, exported.length - 100))).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/failed at seq 40: cannot read record 40: .*not JSON/) });
    // A checkpoint line deleted, the records all there.
    expect(await verifyLines(lines.filter((l) => !l.includes('"type":"checkpoint","treeSize":30')).join('\n'))).toMatchObject({
      exitCode: 1,
      stderr: expect.stringMatching(/checkpoint #2 \(tree size 30\) is missing: checkpoint #3 \(tree size 40\) follows it/),
    });
    expect(await verifyLines(lines.filter((l) => !l.includes('"type":"checkpoint","treeSize":40')).join('\n'))).toMatchObject({
      exitCode: 1,
      stderr: expect.stringMatching(/checkpoints #3–#3 are missing: the export's signed head counts 3 signed checkpoints, 2 are present/),
    });
    // The signed head edited, or removed (as in an export of the first format).
    const signed = JSON.parse(lines[0]!) as { signedHead: string };
    const tamperedHead = { ...JSON.parse(lines[0]!), signedHead: signed.signedHead.replace(/\n40\n/, '\n28\n') } as Record<string, unknown>;
    expect(await verifyLines([JSON.stringify(tamperedHead), ...lines.slice(1)].join('\n'))).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/the export's signed head does not verify/) });
    const { signedHead: _dropped, ...unsigned } = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(await verifyLines([JSON.stringify({ ...unsigned, format: 'countersign-audit/1' }), ...lines.slice(1)].join('\n'))).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/the export has no signed head/) });
    expect(await runAuditCli(['audit', 'verify', '--file', 'no-such-export.jsonl'], undefined, t.dataDir)).toMatchObject({ exitCode: 1 });
  });
});
