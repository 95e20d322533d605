import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockFilePath } from '../../src/db/data-dir-lock.ts';
import { postgresUrl } from '../helpers/databases.ts';
import { countersign, exited, freePort, startServe } from '../helpers/countersign-process.ts';

/** One line on stderr, and nothing on stdout: what an operator reads when `serve` cannot start. */
const oneLine = /^countersign: [^\n]+\n$/;

describe('countersign serve that cannot start', () => {
  let dir: string;
  let dataDir: string;
  const serve = (env: Record<string, string>) => countersign(['serve'], { cwd: dir, env: { COUNTERSIGN_DATA_DIR: dataDir, ...env } });

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-serve-fail-'));
    dataDir = path.join(dir, 'data');
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('exits 1 with one line when its port is taken, and the next serve on the same data directory starts', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      const run = await serve({ PORT: String(port) });
      expect(run.code).toBe(1);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(oneLine);
      expect(run.stderr).toContain(`cannot listen on 127.0.0.1:${port}: another process is using port ${port}; stop it or set PORT`);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
    const next = await startServe({ cwd: dir, env: { COUNTERSIGN_DATA_DIR: dataDir }, port: await freePort() });
    next.child.kill('SIGTERM');
    expect(await exited(next.child)).toBe(0);
  }, 120_000);

  it.each([
    ['an address that is not an address', '256.1.1.1', /^countersign: HOST: 256\.1\.1\.1 does not resolve to an address/],
    ['a name that does not resolve', 'no-such-host.invalid', /^countersign: HOST: no-such-host\.invalid does not resolve to an address/],
    ['an address of another machine', '192.0.2.1', /^countersign: HOST: 192\.0\.2\.1 is not an address of this machine/],
  ])('exits 2 with one line naming HOST for %s', async (_what, host, message) => {
    const run = await serve({ HOST: host, PORT: '0' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(oneLine);
    expect(run.stderr).toMatch(message);
  }, 60_000);

  it('exits 2 with one line naming COUNTERSIGN_DATA_DIR when it cannot be written', async () => {
    const file = path.join(dir, 'a-file');
    await fs.writeFile(file, '');
    const run = await countersign(['serve'], { cwd: dir, env: { COUNTERSIGN_DATA_DIR: path.join(file, 'data'), PORT: '0' } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(oneLine);
    expect(run.stderr).toMatch(/^countersign: COUNTERSIGN_DATA_DIR: cannot write to \S+a-file\/data \(ENOTDIR\)/);
  }, 60_000);

  it('lets go of the data directory when the embedded database cannot be opened', async () => {
    const broken = path.join(dir, 'broken');
    await fs.mkdir(broken);
    // Where PGlite keeps its files there is a file instead: the lock is taken, then opening fails.
    await fs.writeFile(path.join(broken, 'pgdata'), 'not a database');
    const run = await countersign(['serve'], { cwd: dir, env: { COUNTERSIGN_DATA_DIR: broken, PORT: '0' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(oneLine);
    expect(run.stderr).toContain('pgdata');
    await expect(fs.stat(lockFilePath(broken))).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);

  it('exits 1 with one line when DATABASE_URL answers nothing, instead of waiting forever', async () => {
    // Accepts connections and never says a word: a firewall that drops, a wrong service on the port.
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const run = await serve({ DATABASE_URL: `postgres://countersign:hunter2@127.0.0.1:${port}/countersign`, PORT: '0' });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(oneLine);
      expect(run.stderr).toMatch(/^countersign: cannot connect to the PostgreSQL database in DATABASE_URL: no answer within 3 s/);
      expect(run.stderr).not.toContain('hunter2');
    } finally {
      silent.close();
    }
  }, 60_000);

  it('exits 1 with one line when DATABASE_URL refuses connections', async () => {
    const run = await serve({ DATABASE_URL: `postgres://countersign:hunter2@127.0.0.1:${await freePort()}/countersign`, PORT: '0' });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(oneLine);
    expect(run.stderr).toContain('ECONNREFUSED');
    expect(run.stderr).not.toContain('hunter2');
  }, 60_000);

  it.skipIf(!postgresUrl)('exits 2 with one line naming DATABASE_URL when the server refuses the user, without printing the password', async () => {
    const url = new URL(postgresUrl!);
    url.username = 'no_such_countersign_user';
    url.password = 'hunter2';
    const run = await serve({ DATABASE_URL: url.toString(), PORT: '0' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(oneLine);
    expect(run.stderr).toMatch(/^countersign: DATABASE_URL: the PostgreSQL server at no_such_countersign_user@[^ ]+ refused the connection: /);
    expect(run.stderr).not.toContain('hunter2');
  }, 60_000);
});
