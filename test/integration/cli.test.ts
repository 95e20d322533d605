import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApproval } from '../../src/intake/create-approval.ts';
import { sha256Hex } from '../../src/primitives/canonical-json.ts';
import { resolveConfig } from '../../src/config/config.ts';
import type { DatabaseTarget } from '../../src/db/open-database.ts';
import { findPrincipal } from '../../src/keys/api-keys.ts';
import { createLogger } from '../../src/config/logger.ts';
import { adminSocketPath } from '../../src/server/admin-socket.ts';
import { startServices, type RunningServices } from '../../src/start-services.ts';
import { BIN, cleanEnv, countersign, exited, freePort, type Run } from '../helpers/countersign-process.ts';
import { postgresDatabase, postgresUrl } from '../helpers/databases.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';


const GOOD_MAPPING = 'projects:\n  - key: billing-bot\n    provider: local\n    reviewers: [alice, bob]\n';
const BAD_MAPPING = 'projects:\n  - key: billing-bot\n    provider: local\n    reviewers: alice\n';

/** What the CLI says on stderr when it opens the embedded database itself (no server answered). */
const NO_SERVER = /^countersign: no server is running on [^\n]+; using its embedded database directly\n/;

const json = <T>(run: Run): T => {
  expect(run.stderr.replace(NO_SERVER, '')).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as T;
};

interface CreatedKey {
  id: string;
  key: string;
  webhookSecret: string;
  scopes: string[];
  reviewer: string | null;
}

/** Opens a data directory in this process once the CLI or server has let go of it. */
async function openDataDir(dataDir: string): Promise<RunningServices> {
  return startServices(resolveConfig({ COUNTERSIGN_DATA_DIR: dataDir }), createLogger('silent'), { workers: false });
}

describe('countersign CLI on the embedded database, with no server running', () => {
  let dir: string;
  let env: Record<string, string>;
  let agent: CreatedKey;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-cli-'));
    env = { COUNTERSIGN_DATA_DIR: path.join(dir, 'data') };
    await fs.writeFile(path.join(dir, 'mapping.yaml'), GOOD_MAPPING);
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('applies a mapping file and lists it, saying which data directory it opened', async () => {
    const run = await countersign(['projects', 'apply', 'mapping.yaml', '--json'], { cwd: dir, env });
    expect(run.stderr).toBe(`countersign: no server is running on ${env.COUNTERSIGN_DATA_DIR}; using its embedded database directly\n`);
    const applied = json<{ projects: Array<{ key: string; change: string }> }>(run);
    expect(applied.projects).toEqual([{ key: 'billing-bot', change: 'created' }]);
    const listed = json<{ projects: Array<{ key: string; provider: string; reviewers: string[] }> }>(await countersign(['projects', 'list', '--json'], { cwd: dir, env }));
    expect(listed.projects).toEqual([expect.objectContaining({ key: 'billing-bot', provider: 'local', reviewers: ['alice', 'bob'] })]);
  }, 60_000);

  it('creates keys, printing the key and its callback secret once, and revokes one', async () => {
    agent = json<CreatedKey>(await countersign(['keys', 'create', '--name', 'agent-7', '--scopes', 'intake,read', '--json'], { cwd: dir, env }));
    expect(agent.id).toMatch(/^key_/);
    expect(agent.key).toMatch(/^csk_[A-Za-z0-9_-]{20,}$/);
    expect(agent.webhookSecret).toMatch(/^whsec_[A-Za-z0-9+/=]{32,}$/);
    const doomed = json<CreatedKey>(await countersign(['keys', 'create', '--name', 'old', '--scopes', 'read', '--json'], { cwd: dir, env }));
    const revoked = await countersign(['keys', 'revoke', doomed.id], { cwd: dir, env });
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(doomed.id);

    const services = await openDataDir(env.COUNTERSIGN_DATA_DIR!);
    try {
      const rows = await services.db.selectFrom('api_keys').selectAll().orderBy('created_at').execute();
      expect(rows.map((r) => r.id)).toEqual([agent.id, doomed.id]);
      expect(rows[0]!.key_hash).toBe(sha256Hex(agent.key));
      // Only a hash: the secret itself is nowhere in the stored row.
      expect(JSON.stringify(rows[0])).not.toContain(agent.key.slice(4));
      expect(rows[1]!.revoked_at).not.toBeNull();
      expect(await findPrincipal(services.db, agent.key)).toMatchObject({ keyId: agent.id });
      expect(await findPrincipal(services.db, doomed.key)).toBeUndefined();
    } finally {
      await services.stop();
    }
  }, 60_000);

  it('decides an approval as a reviewer, through the same authorization as the API', async () => {
    const services = await openDataDir(env.COUNTERSIGN_DATA_DIR!);
    let id: string;
    try {
      const principal = (await findPrincipal(services.db, agent.key))!;
      id = (await createApproval(services, principal, { project: 'billing-bot', action: 'deploy', summary: 'Ship it' })).approval.id;
    } finally {
      await services.stop();
    }
    const decided = json<{ id: string; status: string; decision: { by: string[]; reason: string } }>(
      await countersign(['decide', id, 'approve', '--as', 'alice', '--reason', 'looks fine', '--json'], { cwd: dir, env }),
    );
    expect(decided).toMatchObject({ id, status: 'approved', decision: { by: ['alice'], reason: 'looks fine' } });
  }, 60_000);
});

describe('countersign CLI while `countersign serve` runs on the same data directory', () => {
  let dir: string;
  let env: Record<string, string>;
  let url: string;
  let server: ChildProcess;
  let serverLog = '';
  let agent: CreatedKey;

  const cli = (...args: string[]) => countersign(args, { cwd: dir, env });
  const api = (pathname: string, init: RequestInit & { key?: string; body?: string } = {}) =>
    fetch(`${url}${pathname}`, { ...init, headers: { 'content-type': 'application/json', ...(init.key ? { authorization: `Bearer ${init.key}` } : {}) } });

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-serve-'));
    const port = await freePort();
    env = { COUNTERSIGN_DATA_DIR: path.join(dir, 'data'), PORT: String(port) };
    url = `http://127.0.0.1:${port}`;
    await fs.writeFile(path.join(dir, 'mapping.yaml'), GOOD_MAPPING);
    await fs.writeFile(path.join(dir, 'bad.yaml'), BAD_MAPPING);
    // The server runs elsewhere: relative paths given to the CLI are the CLI's.
    const serverCwd = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-serve-cwd-'));
    server = spawn(process.execPath, [BIN, 'serve'], { cwd: serverCwd, env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
    server.stderr!.on('data', (chunk: Buffer) => (serverLog += chunk.toString()));
    const deadline = Date.now() + 50_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`serve exited with ${server.exitCode}:\n${serverLog}`);
      const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`serve did not become ready:\n${serverLog}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }, 60_000);
  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await exited(server);
    }
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('runs commands through the server (its admin socket) instead of opening the database', async () => {
    await expect(fs.stat(adminSocketPath(env.COUNTERSIGN_DATA_DIR!))).resolves.toBeTruthy();
    const applied = json<{ projects: Array<{ change: string }> }>(await cli('projects', 'apply', 'mapping.yaml', '--json'));
    expect(applied.projects).toEqual([{ key: 'billing-bot', change: 'created' }]);
    agent = json<CreatedKey>(await cli('keys', 'create', '--name', 'agent', '--scopes', 'intake,read', '--json'));
    expect(agent.key).toMatch(/^csk_/);
    // The server sees the key at once: it is the same database.
    const listed = await api('/v1/approvals', { key: agent.key });
    expect(listed.status).toBe(200);
    expect(json<{ projects: unknown[] }>(await cli('projects', 'list', '--json')).projects).toHaveLength(1);
  }, 60_000);

  it('refuses a review key without --reviewer with exit 1 and says why', async () => {
    const run = await cli('keys', 'create', '--name', 'rev', '--scopes', 'review');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^countersign: scope review needs --reviewer/);
    // With --json the refusal is the API's error body, for scripts.
    const asJson = await cli('keys', 'create', '--name', 'rev', '--scopes', 'review', '--json');
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stderr)).toEqual({ error: { code: 'reviewer_required', message: expect.stringContaining('scope review needs --reviewer') } });
  }, 30_000);

  it('refuses a bad mapping file with a non-zero exit naming the field path, and changes nothing', async () => {
    const run = await cli('projects', 'apply', 'bad.yaml');
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain('projects[0].reviewers: expected array, received string');
    const listed = json<{ projects: Array<{ reviewers: string[] }> }>(await cli('projects', 'list', '--json'));
    expect(listed.projects[0]!.reviewers).toEqual(['alice', 'bob']);
  }, 30_000);

  it('refuses a missing file and an unknown outcome with a message', async () => {
    const missing = await cli('projects', 'apply', 'nope.yaml');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.yaml');
    const outcome = await cli('decide', 'apr_x', 'maybe', '--as', 'alice');
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(/maybe/);
  }, 30_000);

  it('ends a long poll with `decide`', async () => {
    const intake = await api('/v1/approvals', { method: 'POST', key: agent.key, body: JSON.stringify({ project: 'billing-bot', action: 'deploy', summary: 'Ship it' }) });
    expect(intake.status).toBe(202);
    const { id } = (await intake.json()) as { id: string };
    const poll = api(`/v1/approvals/${id}?wait=50`, { key: agent.key });
    // Through the same authorization as the API: someone not on the project is refused.
    const refused = await cli('decide', id, 'approve', '--as', 'mallory');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^countersign: mallory is not a reviewer/);
    const decided = await cli('decide', id, 'reject', '--as', 'bob', '--reason', 'not today');
    expect(decided.code).toBe(0);
    expect(decided.stdout).toContain(`${id} is rejected`);
    const answered = (await (await poll).json()) as { status: string; decision: { by: string[]; reason: string } };
    expect(answered).toMatchObject({ status: 'rejected', decision: { by: ['bob'], reason: 'not today' } });
  }, 60_000);

  it('lists pending approvals and shows one with its payload and votes, so a local reviewer can find what to decide', async () => {
    const body = { project: 'billing-bot', action: 'send_email', summary: 'Send the reply \u202Eevil', details: 'fine\r\nvotes:\rdecision: approved', payload: { to: 'ops@acme.example', note: '\u202E' } };
    const intake = await api('/v1/approvals', { method: 'POST', key: agent.key, body: JSON.stringify(body) });
    const { id, payloadHash } = (await intake.json()) as { id: string; payloadHash: string };
    const pending = json<{ items: Array<{ id: string; status: string }>; nextCursor: string | null }>(await cli('approvals', 'list', '--status', 'pending', '--json'));
    expect(pending.items.map((item) => item.id)).toContain(id);
    expect(pending.items.every((item) => item.status === 'pending')).toBe(true);
    const listed = await cli('approvals', 'list', '--status', 'pending', '--project', 'billing-bot');
    expect(listed.stdout).toContain(`${id}  pending`);
    // The reordering character the agent sent is shown, not obeyed.
    expect(listed.stdout).toContain('Send the reply [U+202E]evil');

    expect((await cli('decide', id, 'approve', '--as', 'alice')).code).toBe(0);
    const shown = await cli('approvals', 'show', id);
    expect(shown.code).toBe(0);
    const [ours, agents] = shown.stdout.split('as the agent wrote it:\n');
    // Countersign's own lines come first and the agent's text cannot add one: its line breaks stay indented.
    expect(ours).toContain(`payload hash: ${payloadHash}`);
    expect(ours).toContain('"note": "\\u202e"');
    expect(ours).toMatch(/votes:\n {4}alice approve via cli at /);
    expect(agents!.split('\n').filter(Boolean).every((line) => line.startsWith('    '))).toBe(true);
    expect(agents).toContain('        decision: approved');
    const detail = json<{ payload: unknown; details: string; votes: Array<{ reviewer: string; outcome: string }> }>(await cli('approvals', 'show', id, '--json'));
    expect(detail).toMatchObject({ payload: body.payload, details: body.details, votes: [{ reviewer: 'alice', outcome: 'approve' }] });

    const unknown = await cli('approvals', 'show', 'apr_00000000000000000000000000');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe('countersign: no approval apr_00000000000000000000000000\n');
    const badStatus = await cli('approvals', 'list', '--status', 'maybe');
    expect(badStatus.code).toBe(2);
    expect(badStatus.stderr).toContain('status: expected one of pending, approved');
  }, 60_000);

  it('loses no accepted request when it gets SIGTERM under load', async () => {
    const accepted: string[] = [];
    const other: number[] = [];
    const body = JSON.stringify({ project: 'billing-bot', action: 'deploy', summary: 'Ship it' });
    let finished = 0;
    const worker = async () => {
      for (let i = 0; i < 400; i++) {
        try {
          const response = await api('/v1/approvals', { method: 'POST', key: agent.key, body });
          if (response.status === 202) accepted.push(((await response.json()) as { id: string }).id);
          else other.push(response.status);
        } catch {
          break; // the server stopped taking connections
        }
      }
      finished += 1;
    };
    const waiting = (await (await api('/v1/approvals', { method: 'POST', key: agent.key, body })).json()) as { id: string };
    const poll = api(`/v1/approvals/${waiting.id}?wait=50`, { key: agent.key });
    const workers = Array.from({ length: 6 }, worker);
    while (accepted.length < 30 && finished === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(server.exitCode).toBeNull();
    server.kill('SIGTERM');
    const [code] = await Promise.all([exited(server), ...workers]);
    expect(code).toBe(0);
    expect(other).toEqual([]);
    // A long poll in flight is answered (still pending), not cut off.
    const polled = await poll;
    expect(polled.status).toBe(200);
    expect(((await polled.json()) as { status: string }).status).toBe('pending');

    // The lock is released and every request answered 202 is there, with its (local) ticket.
    const services = await openDataDir(env.COUNTERSIGN_DATA_DIR!);
    try {
      const rows = await services.db.selectFrom('approvals').select(['id', 'ticket']).where('id', 'in', accepted).execute();
      expect(rows.length).toBe(accepted.length);
      expect(rows.every((row) => row.ticket?.key === row.id)).toBe(true);
    } finally {
      await services.stop();
    }
  }, 60_000);
});

describe('countersign CLI conventions', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-cli-conventions-'));
    env = { COUNTERSIGN_DATA_DIR: path.join(dir, 'data') };
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('prints its version and its help, exit 0, without opening a database', async () => {
    const { version } = JSON.parse(await fs.readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(await countersign(['--version'], { cwd: dir, env })).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    const help = await countersign(['--help'], { cwd: dir, env: { ...env, PORT: 'not-a-port' } });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Exit codes: 0 done, 1 a check failed or was refused, 2 usage or configuration error/);
    await expect(fs.stat(env.COUNTERSIGN_DATA_DIR!)).rejects.toThrow();
  });

  it('exits 2 on every usage error, naming it', async () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /Usage: countersign/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['keys', 'list', '--colour'], /unknown option '--colour'/],
      [['keys', 'create', '--scopes', 'read'], /required option '--name <name>' not specified/],
      [['audit', 'prune', '--older-than', 'soon'], /--older-than: "soon" is not a duration/],
      [['audit', 'export', '--since', 'yesterday'], /--since: "yesterday" is not an ISO 8601 time/],
    ];
    for (const [args, message] of cases) {
      const run = await countersign(args, { cwd: dir, env });
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });

  it('exits 1 when a check fails: an export that does not verify', async () => {
    await fs.writeFile(path.join(dir, 'not-an-export.jsonl'), '{"type":"record"}\n');
    const run = await countersign(['audit', 'verify', '--file', 'not-an-export.jsonl', '--json'], { cwd: dir, env });
    expect(run.code).toBe(1);
  });

  it('takes --json on every command', async () => {
    const commands = [['serve'], ['migrate'], ['keys', 'create'], ['keys', 'revoke'], ['keys', 'list'], ['projects', 'apply'], ['projects', 'list'], ['projects', 'explain'], ['decide'], ['approvals', 'list'], ['approvals', 'show'], ['audit', 'verify'], ['audit', 'export'], ['audit', 'prune'], ['audit', 'checkpoint'], ['audit', 'review'], ['audit', 'rotate-key'], ['report', 'latency']];
    const top = (await countersign(['--help'], { cwd: dir, env })).stdout;
    for (const group of ['serve', 'migrate', 'keys', 'projects', 'approvals', 'decide', 'audit', 'report']) expect(top).toContain(group);
    for (const command of commands) {
      const help = await countersign([...command, '--help'], { cwd: dir, env });
      expect(help.code, command.join(' ')).toBe(0);
      expect(help.stdout, command.join(' ')).toContain('--json');
    }
  });

  it('reads a secret from NAME_FILE and refuses one given both ways with exit 2', async () => {
    await fs.writeFile(path.join(dir, 'db-url'), 'postgres://u@127.0.0.1:1/x\n');
    const both = await countersign(['keys', 'list'], { cwd: dir, env: { ...env, DATABASE_URL: 'postgres://u@127.0.0.1:1/x', DATABASE_URL_FILE: path.join(dir, 'db-url') } });
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('countersign: DATABASE_URL and DATABASE_URL_FILE are both set; set only one of them\n');
    // Read from the file: the CLI goes to that (closed) port, not to the embedded database.
    const fromFile = await countersign(['keys', 'list'], { cwd: dir, env: { ...env, DATABASE_URL_FILE: path.join(dir, 'db-url') } });
    expect(fromFile.code).toBe(1);
    expect(fromFile.stderr).toMatch(/^countersign: cannot connect to the PostgreSQL database in DATABASE_URL: /);
  });
});

describe('countersign CLI with a bad setting', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-cli-bad-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('stops with one line naming a malformed variable', async () => {
    const run = await countersign(['keys', 'list'], { cwd: dir, env: { PORT: 'eighty', COUNTERSIGN_DATA_DIR: path.join(dir, 'data') } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^countersign: PORT: [^\n]*"eighty"[^\n]*\n$/);
  });

  it('stops with one line, not a stack trace, when DATABASE_URL cannot be reached', async () => {
    const port = await freePort();
    const run = await countersign(['keys', 'list'], { cwd: dir, env: { DATABASE_URL: `postgres://countersign:hunter2@127.0.0.1:${port}/nothing`, COUNTERSIGN_DATA_DIR: path.join(dir, 'data') } });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^countersign: cannot connect to the PostgreSQL database in DATABASE_URL: [^\n]*ECONNREFUSED[^\n]*\n$/);
    expect(run.stderr).not.toContain('hunter2');
  });
});

describe.skipIf(!postgresUrl)('countersign CLI on PostgreSQL (DATABASE_URL), beside a running server', () => {
  let dir: string;
  let env: Record<string, string>;
  let server: TestServer;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-cli-pg-'));
    await fs.writeFile(path.join(dir, 'mapping.yaml'), GOOD_MAPPING);
    const fresh = postgresDatabase(postgresUrl!);
    let target: DatabaseTarget | undefined;
    server = await startTestServer({ name: 'postgres', create: async () => ((created) => ((target = created.target), created))(await fresh.create()) });
    if (target?.kind !== 'postgres') throw new Error('expected a PostgreSQL target');
    env = { DATABASE_URL: target.url, COUNTERSIGN_DATA_DIR: path.join(dir, 'unused') };
  });
  afterAll(async () => {
    await server?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('applies projects, creates a review key and decides, waking the server’s long poll', async () => {
    expect(json<{ projects: unknown[] }>(await countersign(['projects', 'apply', 'mapping.yaml', '--json'], { cwd: dir, env })).projects).toHaveLength(1);
    const reviewer = json<CreatedKey>(await countersign(['keys', 'create', '--name', 'alice', '--scopes', 'review', '--reviewer', 'alice', '--json'], { cwd: dir, env }));
    expect(reviewer.reviewer).toBe('alice');
    const stored = await server.services.db.selectFrom('api_keys').select('key_hash').where('id', '=', reviewer.id).executeTakeFirstOrThrow();
    expect(stored.key_hash).toBe(sha256Hex(reviewer.key));

    const agent = await server.key({ scopes: ['intake', 'read'] });
    const { id } = (await (await server.fetch('/v1/approvals', { key: agent, json: { project: 'billing-bot', action: 'deploy', summary: 'Ship it' } })).json()) as { id: string };
    const poll = server.fetch(`/v1/approvals/${id}?wait=50`, { key: agent });
    const decided = json<{ status: string }>(await countersign(['decide', id, 'approve', '--as', 'alice', '--json'], { cwd: dir, env }));
    expect(decided.status).toBe('approved');
    expect(((await (await poll).json()) as { status: string }).status).toBe('approved');
  }, 60_000);
});
