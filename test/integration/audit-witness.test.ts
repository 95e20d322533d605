import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDirWitness } from '../../src/audit/witness/dir-witness.ts';
import { parseWitnessSpecs } from '../../src/config/witness-spec.ts';
import { createLogger } from '../../src/config/logger.ts';
import { openWitnessStores } from '../../src/witness/open-witness-stores.ts';
import { appendTestRecords, runAuditCli, startAuditServices, verifyAfterTampering, type AuditTestServices } from '../helpers/audit-fixtures.ts';
import { newSigner, rewriteLog } from '../helpers/audit-forgery.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { until } from '../helpers/until.ts';

describeEachDatabase('audit witnesses: checkpoints kept outside the database', (database) => {
  let fake: FakeGitHub;
  let t: AuditTestServices;
  let witnessDir: string;
  const issueSpec = 'github:acme/approvals#1';

  beforeAll(async () => {
    fake = await startFakeGitHub({ secret: 'witness-test-secret' });
    // The issue the operator opened (and locked) for the checkpoints.
    const opened = await fetch(`${fake.url}/repos/acme/approvals/issues`, { method: 'POST', headers: { authorization: `token ${fake.serverEnv.GITHUB_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ title: 'Countersign audit checkpoints' }) });
    expect(opened.status).toBe(201);
    witnessDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-witness-'));
    t = await startAuditServices(database, { workers: true, pollingIntervalSeconds: 0.5, env: { ...fake.serverEnv, AUDIT_WITNESS: `dir:${witnessDir},${issueSpec}` } });
    // A start publishes what the log holds at once (here the signing key's record).
    await until(async () => (await fs.readdir(witnessDir)).length, (n) => n === 1);
    await until(() => fake.issues.get(1)!.comments.length, (n) => n === 1);
  });
  afterAll(async () => {
    await t?.close();
    await fake?.stop();
    await fs.rm(witnessDir, { recursive: true, force: true });
  });

  const dirFiles = async () => (await fs.readdir(witnessDir)).sort();
  const issueComments = () => fake.issues.get(1)!.comments;

  it('publishes each new checkpoint once to the directory (a new file each) and as an issue comment (through the job queue)', async () => {
    await appendTestRecords(t.services, 20, 'first');
    await t.services.witnesses.publishLatest();
    await expect.poll(async () => (await dirFiles()).length, { timeout: 10_000 }).toBe(2);
    await expect.poll(() => issueComments().length, { timeout: 10_000 }).toBe(2);
    await appendTestRecords(t.services, 10, 'second');
    await t.services.witnesses.publishLatest();
    await expect.poll(async () => (await dirFiles()).length, { timeout: 10_000 }).toBe(3);
    await expect.poll(() => issueComments().length, { timeout: 10_000 }).toBe(3);

    const files = await dirFiles();
    expect(files).toEqual([...files].sort());
    const sizes = files.map((name) => Number(/checkpoint-(\d+)\.txt/.exec(name)![1]));
    expect(sizes[2]).toBeGreaterThan(sizes[1]!);
    // The comment carries the same signed note the file holds.
    const note = await fs.readFile(path.join(witnessDir, files[1]!), 'utf8');
    expect(issueComments()[1]!.body).toContain(note);

    const verified = await runAuditCli(['audit', 'verify', '--witness', `dir:${witnessDir},${issueSpec}`, '--json'], t.services, t.dataDir);
    expect(verified.exitCode, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, witness: { checked: 6, beforeAnchor: 0, largest: { treeSize: sizes[2] } } });
  });

  it('catches a database rewritten and re-signed with another key, against the directory and against the issue, naming the checkpoint', async () => {
    const intruder = newSigner();
    const [dir, github] = await openWitnessStores(parseWitnessSpecs(`dir:${witnessDir},${issueSpec}`), t.services.config.github, createLogger('silent'));
    const dirHeld = await dir!.read();
    const githubHeld = await github!.read();
    const [smallest] = (await dirFiles()).map((name) => Number(/checkpoint-(\d+)\.txt/.exec(name)![1]));
    const rewrite = { change: (r: { seq: number; data: Record<string, unknown> }) => (r.seq === 5 ? { ...r, data: { rewritten: true } } : r) };

    // Re-signed end to end and listing only the intruder's key, the database alone verifies…
    const resigned = (trx: Parameters<typeof rewriteLog>[0]) => rewriteLog(trx, intruder, { ...rewrite, change: rewrite.change as never, keys: 'only' });
    expect(await verifyAfterTampering(t.services, resigned)).toMatchObject({ ok: true });
    // …but not against what the witnesses kept: their checkpoints are signed by the genuine key.
    expect(await verifyAfterTampering(t.services, resigned, { witnessCheckpoints: dirHeld })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(new RegExp(`^witness checkpoint dir:${witnessDir}/checkpoint-0+${smallest}\\.txt does not verify with this log's keys`)),
    });
    expect(await verifyAfterTampering(t.services, resigned, { witnessCheckpoints: githubHeld })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^witness checkpoint https:\/\/github\.example\/acme\/approvals\/issues\/1#issuecomment-\d+ does not verify with this log's keys/),
    });

    // Still listing the genuine key, the rewrite shows as a fork at the witness's first checkpoint.
    const forked = (trx: Parameters<typeof rewriteLog>[0]) => rewriteLog(trx, intruder, { change: rewrite.change as never, keys: 'add' });
    for (const held of [dirHeld, githubHeld]) {
      expect(await verifyAfterTampering(t.services, forked, { witnessCheckpoints: held })).toMatchObject({
        ok: false,
        seq: smallest,
        reason: expect.stringMatching(new RegExp(`^forked: the log's first ${smallest} records do not match witness checkpoint (dir:|https://github)`)),
      });
    }
    // And with the genuine key pinned, the intruder's signatures are refused outright.
    expect(await verifyAfterTampering(t.services, forked, { trustedKeys: [t.services.signer.publicKeyPem], witnessCheckpoints: dirHeld })).toMatchObject({ ok: false, seq: 1, reason: expect.stringMatching(/not a trusted key/) });
  });

  it('catches a log cut back below a checkpoint the witness holds', async () => {
    const files = await dirFiles();
    const largest = Number(/checkpoint-(\d+)\.txt/.exec(files.at(-1)!)![1]);
    const smallest = Number(/checkpoint-(\d+)\.txt/.exec(files[0]!)![1]);
    const held = await createDirWitness(`dir:${witnessDir}`, witnessDir).read();
    // Genuine records, cut after the first checkpoint; the log's own checkpoints and head agree with the cut.
    const cut = (trx: Parameters<typeof rewriteLog>[0]) => rewriteLog(trx, t.services.signer, { from: Number.MAX_SAFE_INTEGER, cutTo: smallest + 2 });
    expect(await verifyAfterTampering(t.services, cut)).toMatchObject({ ok: true });
    expect(await verifyAfterTampering(t.services, cut, { witnessCheckpoints: held })).toMatchObject({
      ok: false,
      reason: `cut back: the log has ${smallest + 2} records, witness checkpoint dir:${witnessDir}/${files.at(-1)} covers ${largest}`,
    });
    // The CLI says which witness file it was (exit 1); here on the genuine log it passes.
    const genuine = await runAuditCli(['audit', 'verify', '--witness', `dir:${witnessDir}`], t.services, t.dataDir);
    expect(genuine).toMatchObject({ exitCode: 0, stdout: expect.stringMatching(/consistent with all 3 checkpoints the witness holds/) });
  });

  it('refuses a witness it cannot use with a clear message', async () => {
    const empty = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-witness-empty-'));
    try {
      expect(await runAuditCli(['audit', 'verify', '--witness', `dir:${empty}`], t.services, t.dataDir)).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/holds no checkpoint/) });
      expect(await runAuditCli(['audit', 'verify', '--witness', 'slack:C0123ABCD'], t.services, t.dataDir)).toMatchObject({ exitCode: 2, stderr: expect.stringMatching(/needs Slack settings/) });
      expect(await runAuditCli(['audit', 'verify', '--witness', 'ftp://x'], t.services, t.dataDir)).toMatchObject({ exitCode: 2, stderr: expect.stringMatching(/expected dir:\/PATH, github:OWNER\/REPO#ISSUE or slack:CHANNEL_ID/) });
    } finally {
      await fs.rm(empty, { recursive: true, force: true });
    }
  });
});
