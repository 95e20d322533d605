import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signKeyRotation } from '../../src/audit/key-rotation.ts';
import { resolveConfig } from '../../src/config/config.ts';
import { createLogger } from '../../src/config/logger.ts';
import type { DatabaseTarget } from '../../src/db/open-database.ts';
import { signingKeyPath } from '../../src/primitives/signing-key.ts';
import { startServices, type RunningServices } from '../../src/start-services.ts';
import { appendTestRecords, runAuditCli, verifyAfterTampering } from '../helpers/audit-fixtures.ts';
import { newSigner, rewriteLog } from '../helpers/audit-forgery.ts';
import { describeEachDatabase } from '../helpers/databases.ts';

describeEachDatabase('audit rotate-key: a new signing key endorsed by the old one', (database) => {
  let dataDir: string;
  let target: DatabaseTarget;
  let dispose: () => Promise<void>;
  let services: RunningServices;
  let firstKeyId: string;
  let rotationSeq: number;
  const start = () => startServices(resolveConfig({ COUNTERSIGN_DATA_DIR: dataDir }), createLogger('silent'), { workers: false, target });

  beforeAll(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-rotate-'));
    const created = await database.create();
    dispose = created.dispose;
    // The embedded database lives on disk here, to be opened again after the restart.
    target = created.target.kind === 'pglite' ? { kind: 'pglite', dataDir } : created.target;
    services = await start();
    firstKeyId = services.signer.keyId;
    // What an auditor keeps from the first start: GET /v1/audit/public-key.
    await fs.writeFile(path.join(dataDir, 'first-key.pem'), services.signer.publicKeyPem);
    await appendTestRecords(services, 5, 'before');
    await services.audit.checkpoint();

    const rotated = await runAuditCli(['audit', 'rotate-key', '--json'], services, dataDir);
    expect(rotated.exitCode, rotated.stderr).toBe(0);
    const result = JSON.parse(rotated.stdout) as { previousKeyId: string; keyId: string; seq: number; privateKeyFile: string };
    expect(result).toMatchObject({ previousKeyId: firstKeyId, privateKeyFile: signingKeyPath(dataDir) });
    // The private key is stored, never printed.
    expect(rotated.stdout).not.toMatch(/PRIVATE KEY/);
    rotationSeq = result.seq;

    // The next start signs with the new key.
    await services.stop();
    services = await start();
    expect(services.signer.keyId).toBe(result.keyId);
    await appendTestRecords(services, 5, 'after');
    await services.audit.checkpoint();
  });
  afterAll(async () => {
    await services?.stop();
    await dispose?.();
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('verifies with only the first key trusted, following the rotation', async () => {
    const verified = await runAuditCli(['audit', 'verify', '--trusted-key', 'first-key.pem', '--json'], services, dataDir);
    expect(verified.exitCode, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, rotations: 1, keys: 2 });
    const record = await services.db.selectFrom('audit_records').select(['event', 'key_id']).where('seq', '=', rotationSeq).executeTakeFirstOrThrow();
    expect(record).toEqual({ event: 'audit.signing_key_rotated', key_id: firstKeyId });
    // Records after the restart are the new key's.
    const last = await services.db.selectFrom('audit_records').select('key_id').orderBy('seq', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(last.key_id).toBe(services.signer.keyId);
  });

  it('fails on a forged rotation: one endorsed by a key the trusted key never vouched for', async () => {
    const intruder = newSigner();
    const { origin } = await services.db.selectFrom('audit_head').select('origin').executeTakeFirstOrThrow();
    const trustedKeys = [await fs.readFile(path.join(dataDir, 'first-key.pem'), 'utf8')];
    // The intruder cuts the log before the genuine rotation and appends one of their own, to
    // their own key, endorsed in the first key's name but signed with theirs.
    const forged = (recordKeyId: string) => (trx: Parameters<typeof rewriteLog>[0]) =>
      rewriteLog(trx, intruder, {
        from: rotationSeq,
        cutTo: rotationSeq - 1,
        keys: 'add',
        append: [
          {
            time: new Date().toISOString(),
            approvalId: null,
            event: 'audit.signing_key_rotated',
            actor: { kind: 'admin', id: 'operator', via: 'cli' },
            data: { previousKeyId: firstKeyId, keyId: intruder.keyId, publicKey: intruder.publicKeyPem, endorsement: signKeyRotation(origin, { ...intruder, keyId: firstKeyId }, intruder.publicKey) },
            keyId: recordKeyId,
            sign: (hash) => intruder.sign(hash),
          },
        ],
      });
    // Recorded under the intruder's own key: not a trusted key.
    expect(await verifyAfterTampering(services, forged(intruder.keyId), { trustedKeys })).toMatchObject({ ok: false, seq: rotationSeq, reason: expect.stringMatching(/not a trusted key/) });
    // Recorded under the first key's id: its endorsement does not verify with the first key.
    expect(await verifyAfterTampering(services, forged(firstKeyId), { trustedKeys })).toMatchObject({ ok: false, seq: rotationSeq, reason: expect.stringMatching(/^key rotation is not endorsed by a trusted key/) });
    // Even without a trusted key, an endorsement that names one key and is signed by another is refused.
    expect(await verifyAfterTampering(services, forged(intruder.keyId))).toMatchObject({ ok: false, seq: rotationSeq, reason: expect.stringMatching(/^key rotation is not endorsed by a known key: names .* as the previous key, but is signed by/) });
  });

  it('fails when the rotation record is removed: the new key was never vouched for', async () => {
    const trustedKeys = [await fs.readFile(path.join(dataDir, 'first-key.pem'), 'utf8')];
    // Records after the rotation kept as they are (signed by the new key), the rotation itself dropped.
    const dropped = async (trx: Parameters<typeof rewriteLog>[0]) => {
      await rewriteLog(trx, services.signer, { from: rotationSeq, change: (r) => (r.seq === rotationSeq ? { ...r, event: 'audit.signing_key_added', data: {} } : r) });
    };
    expect(await verifyAfterTampering(services, dropped, { trustedKeys })).toMatchObject({ ok: false, seq: rotationSeq, reason: expect.stringMatching(/not a trusted key/) });
  });

  it('refuses to write the key into the data directory when the key comes from COUNTERSIGN_SIGNING_KEY', async () => {
    const fromEnv = { ...services, config: { ...services.config, signingKeyPem: 'set' } };
    const run = await runAuditCli(['audit', 'rotate-key'], fromEnv, dataDir);
    expect(run).toMatchObject({ exitCode: 2, stderr: expect.stringMatching(/COUNTERSIGN_SIGNING_KEY is set, .*pass --out FILE/) });
  });
});
