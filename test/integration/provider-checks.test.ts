import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalView } from '../../src/approvals/approval-view.ts';
import { createLogger } from '../../src/config/logger.ts';
import { mappingFileSchema, type ProjectMapping } from '../../src/projects/mapping-schema.ts';
import { createGitHubAdapter } from '../../src/providers/github/github-adapter.ts';
import { createGitHubClient } from '../../src/providers/github/github-client.ts';
import { createJiraAdapter } from '../../src/providers/jira/jira-adapter.ts';
import { createJiraClient } from '../../src/providers/jira/jira-client.ts';
import { countersign, exited, freePort, startServe } from '../helpers/countersign-process.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { startFakeGitHub, type FakeGitHub } from '../helpers/fake-github.ts';
import { startFakeJira, type FakeJira } from '../helpers/fake-jira.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';
import { until } from '../helpers/until.ts';

const SECRET = 'check-webhook-secret';
const logger = createLogger('silent');
const mapping = (project: unknown): ProjectMapping => mappingFileSchema.parse({ projects: [project] }).projects[0]!;

describe('checkProject against the provider API', () => {
  let github: FakeGitHub;
  let jira: FakeJira;
  beforeAll(async () => {
    github = await startFakeGitHub({ secret: SECRET, token: 'ghp_good' });
    jira = await startFakeJira({ secret: SECRET });
  });
  afterAll(async () => {
    await github?.stop();
    await jira?.stop();
  });

  const githubAdapter = (token: string) =>
    createGitHubAdapter(createGitHubClient({ apiUrl: github.url, webhookSecret: SECRET, token }, { logger, writeIntervalMs: 0 }), { webhookSecret: SECRET, auth: 'token', logger, apiUrl: github.url });
  const githubProject = (repo: string) => mapping({ key: 'billing-bot', provider: 'github', github: { owner: 'acme', repo }, reviewers: ['alice'] });

  it('GitHub: finds nothing wrong with a token that works on a repository that exists', async () => {
    expect(await githubAdapter('ghp_good').checkProject!(githubProject('approvals'))).toEqual([]);
  });

  it('GitHub: says a token is not accepted, and how to make one that is', async () => {
    expect(await githubAdapter('ghp_revoked').checkProject!(githubProject('approvals'))).toEqual([
      { reason: 'unauthorized', message: `GITHUB_TOKEN is not accepted by ${github.url} (401): create a token with Issues read & write on acme/approvals` },
    ]);
  });

  it('GitHub: says a repository is unknown, naming the mapping fields to fix', async () => {
    const [problem] = await githubAdapter('ghp_good').checkProject!(githubProject('approvalz'));
    expect(problem).toEqual({
      reason: 'not_found',
      message: `repository acme/approvalz does not exist on ${github.url}, or GITHUB_TOKEN cannot see it (404): fix github.owner / github.repo of project billing-bot, or create a token with Issues read & write on it`,
    });
  });

  const jiraAdapter = (apiToken: string) =>
    createJiraAdapter(createJiraClient({ host: jira.url, email: jira.email, apiToken, webhookSecret: SECRET }, { logger, retryAfterUnitMs: 1 }), { webhookSecret: SECRET, logger, host: jira.url });
  const jiraProject = (fields: Record<string, string>) =>
    mapping({ key: 'ops-bot', provider: 'jira', jira: { project: 'OPS', issueType: 'Task', approvedStatus: 'Approved', rejectedStatus: 'Rejected', ...fields }, reviewers: ['557058:alice'] });

  it('Jira: finds nothing wrong with a mapping that matches the project', async () => {
    expect(await jiraAdapter(jira.apiToken).checkProject!(jiraProject({}))).toEqual([]);
  });

  it.each([
    ['credentials that are not accepted', 'bad-token', {}, 'unauthorized', /^JIRA_EMAIL \/ JIRA_API_TOKEN are not accepted by http:\/\/127\.0\.0\.1:\d+ \(401\): create an API token/],
    ['an unknown project', undefined, { project: 'NOPE' }, 'not_found', /^Jira project NOPE does not exist on http:\/\/127\.0\.0\.1:\d+, or the account of JIRA_EMAIL cannot browse it \(404\): fix jira\.project of project ops-bot/],
    ['an unknown issue type', undefined, { issueType: 'Approval' }, 'unknown_issue_type', /^Jira project OPS has no issue type "Approval" \(its types: Task\): fix jira\.issueType of project ops-bot$/],
    ['a status the workflow lacks', undefined, { approvedStatus: 'Signed off' }, 'unknown_status', /^Jira project OPS has no status "Signed off" \(approvedStatus of mapping ops-bot\); its statuses are: .*Approved \(10100\).*fix the mapping$/],
  ])('Jira: reports %s with what to fix', async (_what, token, fields, reason, message) => {
    const problems = await jiraAdapter(token ?? jira.apiToken).checkProject!(jiraProject(fields));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ reason });
    expect(problems[0]!.message).toMatch(message);
  });
});

describeEachDatabase('an approval whose ticket cannot be opened', (database) => {
  let github: FakeGitHub;
  let server: TestServer;
  let agent: string;
  beforeAll(async () => {
    github = await startFakeGitHub({ secret: SECRET, token: 'ghp_good' });
    const adapter = createGitHubAdapter(createGitHubClient({ apiUrl: github.url, webhookSecret: SECRET, token: 'ghp_good' }, { logger, writeIntervalMs: 0 }), {
      webhookSecret: SECRET,
      auth: 'token',
      logger,
      apiUrl: github.url,
    });
    server = await startTestServer(database, { extraProviders: [adapter] });
    await server.projects([{ key: 'billing-bot', provider: 'github', github: { owner: 'acme', repo: 'approvals' }, reviewers: ['alice'] }]);
    agent = await server.key({ scopes: ['intake', 'read'] });
  });
  afterAll(async () => {
    await server?.close();
    await github?.stop();
  });

  it('shows ticket: null with a ticketError saying what failed and when it is retried, counts it, and clears it once the ticket exists', async () => {
    // The token is revoked for the first try, and works again (is replaced) for the retry.
    github.failNext('issues/create', { status: 401, body: { message: 'Bad credentials' } });
    const created = (await (await server.fetch('/v1/approvals', { key: agent, json: { project: 'billing-bot', action: 'deploy', summary: 'Ship it' } })).json()) as { id: string };
    const read = async () => (await (await server.fetch(`/v1/approvals/${created.id}`, { key: agent })).json()) as ApprovalView & { ticketError?: { message: string; reason: string; at: string; retryAt: string | null } };

    const failing = await until(read, (view) => view.ticketError !== undefined || view.ticket !== null);
    expect(failing.ticket).toBeNull();
    const { ticketError } = failing;
    expect(ticketError).toMatchObject({ reason: 'unauthorized' });
    expect(ticketError!.message).toMatch(new RegExp(`^GITHUB_TOKEN is not accepted by ${github.url} \\(401\\): create a token with Issues read & write on acme/approvals; retrying at \\S+Z$`));
    expect(ticketError!.message).not.toContain('ghp_good');
    expect(Date.parse(ticketError!.retryAt!)).toBeGreaterThan(Date.parse(ticketError!.at));
    expect(ticketError!.message).toContain(ticketError!.retryAt);

    const metrics = await (await server.fetch('/metrics')).text();
    expect(metrics).toContain('countersign_ticket_errors_total{provider="github",project="billing-bot",reason="unauthorized"} 1');

    const ticketed = await until(read, (view) => view.ticket !== null);
    expect(ticketed.ticket).toMatchObject({ provider: 'github' });
    expect(ticketed).not.toHaveProperty('ticketError');
    const row = await server.services.db.selectFrom('approvals').select('ticket_error').where('id', '=', created.id).executeTakeFirstOrThrow();
    expect(row.ticket_error).toBeNull();
  }, 60_000);

  it('reports pending approvals whose ticket keeps failing in a gauge', async () => {
    github.failNext('issues/create', { status: 404, body: { message: 'Not Found' } });
    github.failNext('issues/list-for-repo', { status: 404, body: { message: 'Not Found' } });
    github.failNext('issues/list-for-repo', { status: 404, body: { message: 'Not Found' } });
    const created = (await (await server.fetch('/v1/approvals', { key: agent, json: { project: 'billing-bot', action: 'deploy', summary: 'Ship it again' } })).json()) as { id: string };
    await until(
      () => server.services.db.selectFrom('approvals').select('ticket_error').where('id', '=', created.id).executeTakeFirstOrThrow(),
      (row) => row.ticket_error !== null,
    );
    const metrics = await (await server.fetch('/metrics')).text();
    expect(metrics).toMatch(/countersign_approvals_ticket_failing\{project="billing-bot",provider="github"\} 1/);
    expect(metrics).toMatch(/countersign_ticket_errors_total\{provider="github",project="billing-bot",reason="not_found"\} [1-3]\n/);
  }, 60_000);
});

describe('a misconfigured provider reported by the CLI', () => {
  let dir: string;
  let github: FakeGitHub;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-checks-'));
    github = await startFakeGitHub({ secret: SECRET, token: 'ghp_good' });
    env = { COUNTERSIGN_DATA_DIR: path.join(dir, 'data'), GITHUB_TOKEN: 'ghp_revoked', GITHUB_API_URL: github.url, GITHUB_WEBHOOK_SECRET: SECRET };
    await fs.writeFile(path.join(dir, 'mapping.yaml'), 'projects:\n  - key: billing-bot\n    provider: github\n    github: { owner: acme, repo: approvals }\n    reviewers: [alice]\n');
  });
  afterAll(async () => {
    await github?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('projects apply applies the file, prints each problem with its fix, and exits 1', async () => {
    const run = await countersign(['projects', 'apply', 'mapping.yaml'], { cwd: dir, env });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('billing-bot: created\n');
    expect(run.stderr).toBe(
      `countersign: no server is running on ${env.COUNTERSIGN_DATA_DIR!}; using its embedded database directly\n` +
        `billing-bot: GITHUB_TOKEN is not accepted by ${github.url} (401): create a token with Issues read & write on acme/approvals\n` +
        'countersign: applied, but the provider of 1 project reported problems (above): tickets cannot be opened until they are fixed\n',
    );
    const listed = await countersign(['projects', 'list', '--json'], { cwd: dir, env });
    expect((JSON.parse(listed.stdout) as { projects: unknown[] }).projects).toHaveLength(1);
  }, 90_000);

  it('serve starts anyway and logs one warning line per problem', async () => {
    const server = await startServe({ cwd: dir, env, port: await freePort() });
    try {
      const log = await until(server.log, (text) => text.includes('project billing-bot: '), 30_000);
      const lines = log.split('\n').filter((line) => line.includes('project billing-bot: '));
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, project: 'billing-bot', provider: 'github', reason: 'unauthorized', msg: `project billing-bot: GITHUB_TOKEN is not accepted by ${github.url} (401): create a token with Issues read & write on acme/approvals` });
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    } finally {
      server.child.kill('SIGTERM');
      await exited(server.child);
    }
  }, 90_000);
});
