import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { decideApproval } from '../../src/approvals/decide-approval.ts';
import type { ChannelMessageRef, ChannelNotice, NotificationChannel } from '../../src/channels/notification-channel.ts';
import { listPeople } from '../../src/projects/people-store.ts';
import { applyProjects, parseMappingFile } from '../../src/projects/project-store.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type Delivery, type FakeGitHub } from '../helpers/fake-github.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'people-webhook-secret';

const PEOPLE = [
  { id: 'alice', github: 'Alice-GH', slack: 'U0ALICE', email: 'alice@acme.example', admin: true },
  { id: 'bob', github: 'bob-gh', email: 'bob@acme.example' },
  { id: 'carol', slack: 'U0CAROL', email: 'carol@acme.example' },
];

/** A notification channel that keeps what it was told, as Slack-as-notifier or email would be. */
function recordingChannel(): NotificationChannel & { notices: Array<{ notice: ChannelNotice; previous?: ChannelMessageRef }>; failNext: number } {
  const channel = {
    name: 'recorder',
    address: 'email' as const,
    capabilities: { decides: false, updatesInPlace: true, reconciles: false },
    notices: [] as Array<{ notice: ChannelNotice; previous?: ChannelMessageRef }>,
    failNext: 0,
    appliesTo: (project: { notify?: { email?: boolean } }) => project.notify?.email === true,
    async notify(notice: ChannelNotice, previous?: ChannelMessageRef) {
      if (channel.failNext > 0) {
        channel.failNext -= 1;
        throw new Error('the channel is down');
      }
      channel.notices.push({ notice, ...(previous ? { previous } : {}) });
      return previous ?? { channel: 'inbox', key: `message-${notice.approval.approvalId}` };
    },
  };
  return channel;
}

describeEachDatabase('people directory', (database) => {
  let fake: FakeGitHub;
  let server: TestServer;
  let agentKey: string;
  const channel = recordingChannel();

  beforeAll(async () => {
    fake = await startFakeGitHub({ secret: SECRET });
    server = await startTestServer(database, { env: fake.serverEnv, extraChannels: [channel] });
    const github = { owner: fake.owner, repo: fake.repo };
    await server.projects(
      [
        { key: 'gh-people', provider: 'github', github, reviewers: ['alice', 'bob', 'carol'], requiredApprovals: 2 },
        { key: 'local-people', provider: 'local', reviewers: ['alice', 'bob'], notify: { email: true }, escalation: [{ after: '1h', reviewers: ['carol'] }] },
        { key: 'native', provider: 'github', github, reviewers: ['dave'] },
      ],
      PEOPLE,
    );
    agentKey = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await fake?.stop();
  });

  const request = async (project: string, fields: Record<string, unknown> = {}) => {
    const response = await server.fetch('/v1/approvals', { key: agentKey, json: { project, action: 'send_email', summary: 'Send the invoice', payload: { to: 'ops@acme.example' }, ...fields } });
    expect(response.status).toBe(202);
    return ((await response.json()) as { id: string }).id;
  };
  const get = async (id: string) => (await (await server.fetch(`/v1/approvals/${id}`, { key: agentKey })).json()) as ApprovalView;
  const deliver = async (delivery: Delivery) => {
    const headers = { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id, 'x-hub-signature-256': await fake.sign(delivery.body) };
    return fetch(`${server.url}/webhooks/github`, { method: 'POST', headers, body: delivery.body });
  };
  const decide = (approvalId: string, namespace: string, reviewer: string, outcome: 'approve' | 'reject' = 'approve') =>
    decideApproval(server.services, { approvalId, reviewer, namespace, outcome, reason: outcome === 'reject' ? 'not now' : null, via: namespace });

  it('assigns the GitHub issue to the people’s GitHub logins, leaving out a person without one', async () => {
    const id = await request('gh-people');
    const view = await until(() => get(id), (v) => v.ticket !== null);
    const issue = fake.issues.get(Number(view.ticket!.key.split('#')[1]))!;
    expect(issue.assignees).toEqual(['Alice-GH', 'bob-gh']);
    expect(issue.body).toContain('@Alice-GH');
    expect(issue.body).not.toMatch(/@alice\b/);
  });

  it('counts one person once across channels, and a second person from another channel completes the quorum', async () => {
    const id = await request('gh-people');
    const view = await until(() => get(id), (v) => v.ticket !== null);
    const issue = Number(view.ticket!.key.split('#')[1]);

    expect((await deliver(fake.comment(issue, '/approve', 'alice-gh'))).status).toBe(202);
    await until(() => server.services.db.selectFrom('decision_votes').selectAll().where('approval_id', '=', id).execute(), (votes) => votes.length === 1);

    // Alice again, now from Slack: the same person, so the same vote.
    const twice = await decide(id, 'slack', 'U0ALICE');
    expect(twice).toMatchObject({ result: 'refused', code: 'already_voted' });
    expect((await get(id)).status).toBe('pending');

    // Carol has no GitHub account; she decides from Slack and her vote is the second one.
    const carol = await decide(id, 'slack', 'U0CAROL');
    expect(carol.result).toBe('decided');
    expect(carol.approval.decision).toMatchObject({ outcome: 'approved', by: ['alice', 'carol'] });

    // The issue says who approved in GitHub's terms where it can: alice's login, carol's person id.
    await until(() => fake.issues.get(issue)!, (i) => i.state === 'closed');
    await until(() => fake.issues.get(issue)!.comments.map((c) => c.body), (bodies) => bodies.some((b) => b.startsWith('Approved by')));
    expect(fake.issues.get(issue)!.comments.map((c) => c.body).find((b) => b.startsWith('Approved by'))).toContain('@Alice-GH');
  });

  it('refuses the requester as a person, whichever of their identities the agent wrote and wherever they decide', async () => {
    for (const requestedBy of ['alice', 'U0ALICE', 'ALICE-gh', 'alice@acme.example']) {
      const id = await request('local-people', { requestedBy });
      const result = await decide(id, 'local', 'alice');
      expect(result, requestedBy).toMatchObject({ result: 'refused', code: 'self_approval' });
      const viaSlack = await decide(id, 'slack', 'U0ALICE');
      expect(viaSlack, requestedBy).toMatchObject({ result: 'refused', code: 'self_approval' });
    }
  });

  it('gives nothing to identities that are not the person’s: a look-alike login, another system’s spelling, a stranger', async () => {
    const id = await request('gh-people');
    for (const [namespace, reviewer] of [
      ['github', 'alice'], // alice's person id, but not her GitHub login
      ['slack', 'Alice-GH'], // her GitHub login, arriving as a Slack user id
      ['email', 'mallory@acme.example'],
      ['github', 'ａｌｉｃｅ-gh'],
    ] as const) {
      expect(await decide(id, namespace, reviewer), `${namespace}:${reviewer}`).toMatchObject({ result: 'refused', code: 'not_a_reviewer' });
    }
    // A project whose reviewers are GitHub logins keeps working as before the directory.
    const native = await request('native');
    expect((await decide(native, 'github', 'dave')).result).toBe('decided');
  });

  it('tells the project’s notification channels each change, addressed to the reviewers who have an address there', async () => {
    const id = await request('local-people');
    const seen = await until(
      () => channel.notices.filter((n) => n.notice.approval.approvalId === id),
      (notices) => notices.length === 1,
    );
    expect(seen[0]!.notice).toMatchObject({ kind: 'needs-review', tier: 0, recipients: [{ person: 'alice', address: 'alice@acme.example' }, { person: 'bob', address: 'bob@acme.example' }] });
    expect(seen[0]!.notice.approval).toMatchObject({ approvalId: id, project: 'local-people', status: 'pending', approvalUrl: `${server.services.config.publicUrl}/approvals/${id}` });

    // The channel is down once: the job retries, the notice is not lost.
    channel.failNext = 1;
    expect((await decide(id, 'email', 'BOB@acme.example', 'reject')).result).toBe('decided');
    const decided = await until(
      () => channel.notices.filter((n) => n.notice.approval.approvalId === id),
      (notices) => notices.length === 2,
      20_000,
    );
    expect(decided[1]!.notice).toMatchObject({ kind: 'decided', decision: { outcome: 'rejected', by: ['bob'], reason: 'not now' } });
    expect(decided[1]!.previous).toEqual({ channel: 'inbox', key: `message-${id}` });
    // GitHub projects without `notify` are not shown there.
    expect(channel.notices.some((n) => n.notice.approval.project === 'gh-people')).toBe(false);
  });

  it('replaces the directory when a file has people:, keeps it when it has none, and audits the change', async () => {
    const file = (people: string) => parseMappingFile(`${people}projects:\n  - key: local-people\n    provider: local\n    reviewers: [alice, bob]\n    notify: { email: true }\n    escalation: [{ after: 1h, reviewers: [carol] }]\n`, new Set(['local', 'github']));
    const without = file('');
    expect(without.people).toBeUndefined();
    await applyProjects(server.services, without.projects, undefined, without.people);
    expect((await listPeople(server.services.db)).map((p) => p.id)).toEqual(['alice', 'bob', 'carol']);

    const renamed = file('people:\n  - { id: alice, github: alice-new }\n  - { id: bob, github: bob-gh }\n');
    await applyProjects(server.services, renamed.projects, undefined, renamed.people);
    expect(await listPeople(server.services.db)).toEqual([
      { id: 'alice', github: 'alice-new', admin: false },
      { id: 'bob', github: 'bob-gh', admin: false },
    ]);
    await server.services.audit.flush();
    const records = await server.services.db.selectFrom('audit_records').select(['data']).where('event', '=', 'people.changed').orderBy('seq', 'desc').execute();
    expect(records[0]!.data).toMatchObject({ added: [], updated: ['alice', 'bob'], removed: ['carol'] });

    // The old GitHub login is nobody now; the new one is alice.
    const id = await request('local-people');
    expect(await decide(id, 'github', 'Alice-GH')).toMatchObject({ result: 'refused', code: 'not_a_reviewer' });
    expect((await decide(id, 'github', 'alice-new')).result).toBe('decided');
  });
});

describe('people in a mapping file', () => {
  const parse = (people: string) => () => parseMappingFile(`people:\n${people}\nprojects:\n  - { key: p, provider: local, reviewers: [alice] }\n`, new Set(['local']));

  it('refuses two people with one identity, a Slack display name, a bad address, and a person id that is someone’s login', () => {
    expect(parse('  - { id: alice, github: Alice }\n  - { id: bob, github: alice }')).toThrow(/people\[1\]\.github: github alice is already alice's/);
    expect(parse('  - { id: alice }\n  - { id: alice }')).toThrow(/duplicate person id alice/);
    expect(parse('  - { id: alice, slack: "@alice" }')).toThrow(/people\[0\]\.slack: expected a Slack user id/);
    expect(parse('  - { id: alice, email: "not an address" }')).toThrow(/people\[0\]\.email/);
    expect(parse('  - { id: alice, github: bob }\n  - { id: bob }')).toThrow(/bob is also a person id/);
    expect(parse('  - { id: Alice }')).toThrow(/people\[0\]\.id/);
  });
});
