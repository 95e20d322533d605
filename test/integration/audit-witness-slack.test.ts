import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseWitnessSpecs } from '../../src/config/witness-spec.ts';
import { createLogger } from '../../src/config/logger.ts';
import { openWitnessStores } from '../../src/witness/open-witness-stores.ts';
import { appendTestRecords, runAuditCli, startAuditServices, verifyAfterTampering, type AuditTestServices } from '../helpers/audit-fixtures.ts';
import { newSigner, rewriteLog } from '../helpers/audit-forgery.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeSlack, type FakeSlack } from '../helpers/fake-slack.ts';
import { until } from '../helpers/until.ts';

const CHANNEL = 'C0AUDIT01';
const SPEC = `slack:${CHANNEL}`;

describeEachDatabase('audit witness in a Slack channel', (database) => {
  let slack: FakeSlack;
  let t: AuditTestServices;

  beforeAll(async () => {
    slack = await startFakeSlack({ channels: [CHANNEL] });
    t = await startAuditServices(database, { workers: true, pollingIntervalSeconds: 0.5, env: { ...slack.serverEnv, AUDIT_WITNESS: SPEC } });
    await until(() => checkpoints().length, (n) => n === 1);
  });
  afterAll(async () => {
    await t?.close();
    await slack?.stop();
  });

  const checkpoints = () => slack.messages.filter((m) => m.channel === CHANNEL && m.metadata?.event_type === 'countersign_audit_checkpoint');

  it('posts each new checkpoint once, and the log verifies against the channel', async () => {
    await appendTestRecords(t.services, 15, 'slack');
    await t.services.witnesses.publishLatest();
    await expect.poll(() => checkpoints().length, { timeout: 10_000 }).toBe(2);
    // Published again (a retry, another instance): nothing new in the channel.
    await t.services.witnesses.publishLatest();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(checkpoints()).toHaveLength(2);
    expect(slack.invalid).toEqual([]);

    const verified = await runAuditCli(['audit', 'verify', '--witness', SPEC, '--json'], t.services, t.dataDir);
    expect(verified.exitCode, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true });
  });

  it('catches a database rewritten and re-signed with another key, naming the Slack message', async () => {
    const [store] = await openWitnessStores(parseWitnessSpecs(SPEC), t.services.config.github, createLogger('silent'), t.services.config.slack);
    const held = await store!.read();
    expect(held.length).toBeGreaterThanOrEqual(2);
    const intruder = newSigner();
    const change = (r: { seq: number; data: Record<string, unknown> }) => (r.seq === 3 ? { ...r, data: { rewritten: true } } : r);
    const resigned = (trx: Parameters<typeof rewriteLog>[0]) => rewriteLog(trx, intruder, { change: change as never, keys: 'only' });
    expect(await verifyAfterTampering(t.services, resigned)).toMatchObject({ ok: true });
    expect(await verifyAfterTampering(t.services, resigned, { witnessCheckpoints: held })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(new RegExp(`^witness checkpoint ${SPEC}/[0-9.]+ does not verify with this log's keys`)),
    });
  });
});
