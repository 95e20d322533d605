import fs from 'node:fs/promises';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decideLocal } from '../../src/approvals/decide-local.ts';
import { sha256Hex } from '../../src/primitives/canonical-json.ts';
import { runEscalationTimer } from '../../src/escalation/escalation.ts';
import { createApproval } from '../../src/intake/create-approval.ts';
import { createApiKey, findPrincipal, type Principal } from '../../src/keys/api-keys.ts';
import { mappingFileSchema } from '../../src/projects/mapping-schema.ts';
import { applyProjects } from '../../src/projects/project-store.ts';
import { applyReviewSettings, readReviewSettings, reviewSettingsSchema } from '../../src/projects/review-settings.ts';
import type { Review } from '../../src/review/build-review.ts';
import { REVIEW_CSV_COLUMNS } from '../../src/review/render-review.ts';
import { runWeeklyReview } from '../../src/review/weekly-review-job.ts';
import type { Services } from '../../src/services.ts';
import { runAuditCli, startAuditServices, type AuditTestServices } from '../helpers/audit-fixtures.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';

/** The next Tuesday 10:00 UTC at least two hours ahead: escalation compares the clock with the rows' real creation time. */
function nextTuesdayTen(): Date {
  const at = new Date(Date.now() + 2 * 3_600_000);
  at.setUTCHours(10, 0, 0, 0);
  while (at.getUTCDay() !== 2 || at.getTime() < Date.now() + 2 * 3_600_000) at.setUTCDate(at.getUTCDate() + 1);
  return at;
}

interface Clock {
  now: Date;
  advance(ms: number): void;
}
const createClock = (start: Date): Clock => ({
  now: start,
  advance(ms) {
    this.now = new Date(this.now.getTime() + ms);
  },
});

async function agent(services: Services): Promise<Principal> {
  const key = await createApiKey(services, { name: 'agent-7', scopes: ['intake', 'read'] });
  return (await findPrincipal(services.db, key.key))!;
}

describeEachDatabase('audit review: the weekly review of a log with known behaviour', (database) => {
  let t: AuditTestServices;
  const clock = createClock(nextTuesdayTen());
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    t = await startAuditServices(database, { now: () => clock.now });
    const { services } = t;
    await applyProjects(
      services,
      mappingFileSchema.parse({
        projects: [
          {
            key: 'ops',
            provider: 'local',
            reviewers: ['alice', 'bob', 'carol'],
            escalation: [{ after: '1h', outcome: 'expire' }],
            rules: [{ when: { risk: ['low'], action: ['tag_ticket'] }, set: { autoApprove: true } }],
          },
        ],
      }).projects,
    );
    await applyReviewSettings(services, reviewSettingsSchema.parse({ shareMinimumApprovals: 3, shareThreshold: 0.6 }));
    const principal = await agent(services);
    const request = async (name: string, body: Record<string, unknown>) => {
      const { approval } = await createApproval(services, principal, { project: 'ops', action: 'send_email', summary: `request ${name}`, ...body });
      ids[name] = approval.id;
      return approval.id;
    };
    const vote = (name: string, reviewer: string, reason?: string) => decideLocal(services, { approvalId: ids[name]!, reviewer, outcome: 'approve', reason, via: 'cli' });

    // alice, fast and without a reason, on two high-risk requests; then a considered one.
    await request('a1', { risk: 'high' });
    clock.advance(3_000);
    await vote('a1', 'alice');
    clock.advance(60_000);
    await request('a2', { risk: 'high' });
    clock.advance(5_000);
    await vote('a2', 'alice');
    await request('a3', { risk: 'medium' });
    clock.advance(600_000);
    await vote('a3', 'alice', 'checked the recipient');
    // carol tries to approve her own request; bob approves it in the evening.
    await request('a4', { risk: 'low', requestedBy: 'carol' });
    clock.advance(60_000);
    await expect(vote('a4', 'carol')).rejects.toMatchObject({ code: 'self_approval' });
    clock.now = new Date(clock.now.getTime() + (20 - clock.now.getUTCHours()) * 3_600_000);
    await vote('a4', 'bob', 'fine');
    // Nobody decides a5: the escalation's last tier expires it.
    await request('a5', { risk: 'medium' });
    clock.advance(2 * 3_600_000);
    await runEscalationTimer(services, { approvalId: ids.a5!, tier: 1 });
    // A harmless one, approved by the mapping's rule at intake.
    await request('a6', { risk: 'low', action: 'tag_ticket' });
    clock.advance(3_600_000);
  });
  afterAll(async () => {
    await t?.close();
  });

  const review = async (...args: string[]) => {
    const run = await runAuditCli(['audit', 'review', '--since', '7d', ...args], t.services, t.dataDir);
    expect(run.exitCode, run.stderr).toBe(0);
    return run.stdout;
  };

  it('flags each pattern, listing the approval ids', async () => {
    const report = JSON.parse(await review('--format', 'json')) as Review;
    const flag = (kind: string) => report.flags.filter((f) => f.kind === kind);
    expect(flag('fast_decision')).toEqual([{ kind: 'fast_decision', project: null, actor: 'alice', message: 'alice decided 2 requests faster than 10 s after it was made (possible rubber-stamping)', approvalIds: [ids.a1, ids.a2] }]);
    expect(flag('approved_without_reason')).toEqual([expect.objectContaining({ actor: 'alice', message: 'alice approved 2 requests without a reason (2 high risk)', approvalIds: [ids.a1, ids.a2] })]);
    expect(flag('one_person_share')).toEqual([expect.objectContaining({ project: 'ops', actor: 'alice', message: "alice made 75 % of ops's 4 approvals (above 60 %)", approvalIds: [ids.a1, ids.a2, ids.a3] })]);
    expect(flag('refused_attempt')).toEqual([expect.objectContaining({ actor: 'carol', message: 'carol was refused 1 time (self_approval)', approvalIds: [ids.a4] })]);
    expect(flag('outside_working_hours')).toEqual([expect.objectContaining({ actor: 'bob', approvalIds: [ids.a4] })]);
    expect(flag('expired')).toEqual([expect.objectContaining({ project: 'ops', approvalIds: [ids.a5] })]);
    expect(report.flags).toHaveLength(6);

    const alice = report.reviewers.find((r) => r.reviewer === 'alice')!;
    expect(alice).toMatchObject({ medianSecondsToDecide: 5, fastestSecondsToDecide: 3, fastDecisions: 2, approvalsWithoutReason: 2, outsideWorkingHours: 0 });
    expect(alice.decisions).toEqual({ low: { approve: 0, reject: 0 }, medium: { approve: 1, reject: 0 }, high: { approve: 2, reject: 0 } });
    const ops = report.projects.find((p) => p.project === 'ops')!;
    expect(ops.decisions).toEqual({ low: { approved: 2, rejected: 0, expired: 0 }, medium: { approved: 1, rejected: 0, expired: 1 }, high: { approved: 2, rejected: 0, expired: 0 } });
    expect(ops).toMatchObject({ approvals: 4, topApprover: { reviewer: 'alice', approvals: 3, share: 0.75 }, expiries: { count: 1, approvalIds: [ids.a5] } });
    expect(Object.values(ops.autoApprovals)).toEqual([1]);
    expect(report.refused).toEqual([{ actor: 'carol', code: 'self_approval', count: 1, approvalIds: [ids.a4] }]);
  });

  it('narrows to a project, and renders text, csv (for a real CSV parser) and self-contained html', async () => {
    expect((JSON.parse(await review('--project', 'other', '--json')) as Review).flags).toEqual([]);
    const text = await review();
    expect(text).toMatch(/\[fast_decision\] alice decided 2 requests faster than 10 s/);
    expect(text).toContain(`${ids.a1} ${ids.a2}`);

    const rows = parseCsv(await review('--format', 'csv'), { columns: true }) as Array<Record<string, string>>;
    expect(Object.keys(rows[0]!)).toEqual([...REVIEW_CSV_COLUMNS]);
    expect(rows).toContainEqual(expect.objectContaining({ section: 'flag', kind: 'fast_decision', actor: 'alice', count: '2', approval_ids: `${ids.a1} ${ids.a2}` }));
    expect(rows).toContainEqual(expect.objectContaining({ section: 'refused', kind: 'self_approval', actor: 'carol', approval_ids: ids.a4 }));

    const html = await review('--format', 'html');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|src=/i);
    expect(html).toContain("default-src 'none'");
    expect(html).toContain(ids.a5);
  });

  it('refuses usage errors with exit 2', async () => {
    expect(await runAuditCli(['audit', 'review', '--since', 'last week'], t.services, t.dataDir)).toMatchObject({ exitCode: 2, stderr: expect.stringMatching(/--since: "last week" is not a duration/) });
    expect(await runAuditCli(['audit', 'review', '--format', 'pdf'], t.services, t.dataDir)).toMatchObject({ exitCode: 2, stderr: expect.stringMatching(/--format: expected text, json, csv, html/) });
  });

  // Last: it breaks the log for good.
  it('refuses to report on a log that fails verification (exit 1)', async () => {
    await t.services.db.transaction().execute(async (trx) => {
      await sql`alter table audit_records disable trigger audit_records_no_change`.execute(trx);
      await sql`update audit_records set data = '{"reason": "rewritten"}' where seq = 3`.execute(trx);
      await sql`alter table audit_records enable always trigger audit_records_no_change`.execute(trx);
    });
    expect(await runAuditCli(['audit', 'review'], t.services, t.dataDir)).toMatchObject({ exitCode: 1, stdout: '', stderr: expect.stringMatching(/no review of a log that fails verification: seq 3: hash does not match/) });
  });
});

describeEachDatabase('weekly review job: posts last week once, as an issue, and records its hash', (database) => {
  let fake: FakeGitHub;
  let t: AuditTestServices;
  const clock = createClock(nextTuesdayTen());

  beforeAll(async () => {
    fake = await startFakeGitHub({ secret: 'review-test-secret' });
    t = await startAuditServices(database, { now: () => clock.now, env: fake.serverEnv });
    await applyProjects(t.services, mappingFileSchema.parse({ projects: [{ key: 'ops', provider: 'local', reviewers: ['alice', 'bob'] }] }).projects);
    await applyReviewSettings(t.services, reviewSettingsSchema.parse({ post: { github: { owner: 'acme', repo: 'approvals' } } }));
    const principal = await agent(t.services);
    const { approval } = await createApproval(t.services, principal, { project: 'ops', action: 'a', summary: 's', risk: 'high' });
    clock.advance(2_000);
    await decideLocal(t.services, { approvalId: approval.id, reviewer: 'alice', outcome: 'approve', via: 'cli' });
    // The job runs the next day: the week is the seven days before today's midnight UTC.
    clock.advance(86_400_000);
  });
  afterAll(async () => {
    await t?.close();
    await fake?.stop();
  });

  it('posts once when two runs race (two instances, or a retry), and audits the hash of what it posted', async () => {
    const outcomes = await Promise.all([runWeeklyReview(t.services), runWeeklyReview(t.services)]);
    expect(outcomes.filter((o) => o.posted)).toHaveLength(1);
    expect(outcomes.find((o) => !o.posted)).toMatchObject({ reason: expect.stringMatching(/posted already|stopped while posting/) });
    expect(fake.issues.size).toBe(1);
    const [issue] = [...fake.issues.values()];
    expect(issue!.title).toMatch(/^Countersign weekly review \d{4}-\d{2}-\d{2} – \d{4}-\d{2}-\d{2}$/);
    expect(issue!.body).toMatch(/\[fast_decision\] alice decided 1 request faster than 10 s/);

    await t.services.audit.flush();
    const record = await t.services.db.selectFrom('audit_records').select(['data', 'actor']).where('event', '=', 'review.posted').executeTakeFirstOrThrow();
    const text = /^```+text\n([\s\S]*)\n```+$/.exec(issue!.body)![1]!;
    expect(record.data).toMatchObject({ destination: 'github:acme/approvals', url: expect.stringMatching(/\/acme\/approvals\/issues\/\d+$/), reportHash: `sha256:${sha256Hex(text)}`, verified: true, flags: 2 });
    // A restart that runs the job again the same day posts nothing.
    expect(await runWeeklyReview(t.services)).toMatchObject({ posted: false, reason: expect.stringMatching(/posted already/) });
    expect(fake.issues.size).toBe(1);
  });

  it('a failed post releases the week, so the retry posts it', async () => {
    clock.advance(86_400_000);
    fake.failNext('issues/create', { status: 422, body: { message: 'Validation Failed' } });
    await expect(runWeeklyReview(t.services)).rejects.toThrow();
    expect(fake.issues.size).toBe(1);
    expect(await runWeeklyReview(t.services)).toMatchObject({ posted: true });
    expect(fake.issues.size).toBe(2);
  });

  it('projects apply stores the file\'s review: section (audited), and refuses a bad one naming the field', async () => {
    const file = path.join(t.dataDir, 'projects.yaml');
    await fs.writeFile(file, ['review:', '  fastDecisionSeconds: 30', '  workingHours: { start: "07:00", end: "19:00", timeZone: Europe/Berlin }', '  post: { github: { owner: acme, repo: approvals } }', 'projects:', '  - key: ops', '    provider: local', '    reviewers: [alice, bob]'].join('\n'));
    const applied = await runAuditCli(['projects', 'apply', file], t.services, t.dataDir);
    expect(applied.exitCode, applied.stderr).toBe(0);
    expect(await readReviewSettings(t.services.db)).toMatchObject({ fastDecisionSeconds: 30, shareThreshold: 0.8, workingHours: { start: '07:00', end: '19:00', timeZone: 'Europe/Berlin', days: ['mon', 'tue', 'wed', 'thu', 'fri'] }, schedule: '0 8 * * 1' });
    await t.services.audit.flush();
    expect(await t.services.db.selectFrom('audit_records').select('data').where('event', '=', 'review.settings_changed').orderBy('seq', 'desc').executeTakeFirstOrThrow()).toMatchObject({ data: { settings: { fastDecisionSeconds: 30 } } });

    await fs.writeFile(file, ['review:', '  shareThreshold: 2', 'projects:', '  - key: ops', '    provider: local', '    reviewers: [alice, bob]'].join('\n'));
    expect(await runAuditCli(['projects', 'apply', file], t.services, t.dataDir)).toMatchObject({ exitCode: 1, stderr: expect.stringMatching(/review\.shareThreshold/) });
    expect((await readReviewSettings(t.services.db)).fastDecisionSeconds).toBe(30);
  });
});
