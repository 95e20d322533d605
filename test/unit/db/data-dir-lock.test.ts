import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataDirLockedError, lockDataDir, lockFilePath, processStartTicks, type LockOwner } from '../../../src/db/data-dir-lock.ts';

const bootId = async () => (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim() || null;

/** A process that runs until killed: a live owner. */
async function sleeper(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('spawn', resolve));
  return child;
}

/** The pid of a process that has exited: a dead owner (the pid is not reused this soon). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

async function writeLock(dataDir: string, owner: Partial<LockOwner> & { pid: number }): Promise<void> {
  const record: LockOwner = { hostname: os.hostname(), bootId: await bootId(), startTicks: await processStartTicks(owner.pid), startedAt: new Date().toISOString(), ...owner };
  await fs.writeFile(lockFilePath(dataDir), `${JSON.stringify(record)}\n`);
}

describe('lockDataDir', () => {
  let dataDir: string;
  const children: ChildProcess[] = [];
  beforeEach(async () => {
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-lock-'));
  });
  afterEach(async () => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('records its owner, refuses a second holder naming the pid, and frees the directory on release', async () => {
    const release = await lockDataDir(dataDir);
    const owner = JSON.parse(await fs.readFile(lockFilePath(dataDir), 'utf8')) as LockOwner;
    expect(owner).toMatchObject({ pid: process.pid, hostname: os.hostname() });
    const refused = await lockDataDir(dataDir).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DataDirLockedError);
    expect((refused as Error).message).toBe(`the embedded database in ${dataDir} is in use by countersign process ${process.pid}`);
    await release();
    await expect(fs.stat(lockFilePath(dataDir))).rejects.toMatchObject({ code: 'ENOENT' });
    await (await lockDataDir(dataDir))();
  });

  it('takes over at once a lock whose owner has died', async () => {
    const pid = await deadPid();
    await writeLock(dataDir, { pid, startTicks: '1' });
    const release = await lockDataDir(dataDir);
    expect((JSON.parse(await fs.readFile(lockFilePath(dataDir), 'utf8')) as LockOwner).pid).toBe(process.pid);
    await release();
  });

  it('refuses a lock whose owner is alive', async () => {
    const child = await sleeper();
    children.push(child);
    await writeLock(dataDir, { pid: child.pid! });
    await expect(lockDataDir(dataDir)).rejects.toThrow(`in use by countersign process ${child.pid}`);
  });

  it.skipIf(process.platform !== 'linux')('takes over a lock whose pid now belongs to another program (another start time)', async () => {
    const child = await sleeper();
    children.push(child);
    const ticks = (await processStartTicks(child.pid!))!;
    await writeLock(dataDir, { pid: child.pid!, startTicks: String(Number(ticks) - 1) });
    await (await lockDataDir(dataDir))();
  });

  it.skipIf(process.platform !== 'linux')('takes over a lock from before a reboot', async () => {
    const child = await sleeper();
    children.push(child);
    await writeLock(dataDir, { pid: child.pid!, bootId: 'another-boot' });
    await (await lockDataDir(dataDir))();
  });

  it('judges a lock from another host by its heartbeat, since its pid cannot be checked from here', async () => {
    await writeLock(dataDir, { pid: 1, hostname: `not-${os.hostname()}` });
    await expect(lockDataDir(dataDir)).rejects.toThrow(`in use by countersign process 1 on not-${os.hostname()}`);
    const later = Date.now() + 60_000;
    await (await lockDataDir(dataDir, { now: () => later }))();
  });

  it('takes over a stale lock directory left by the proper-lockfile versions, and refuses a fresh one', async () => {
    await fs.mkdir(lockFilePath(dataDir));
    await expect(lockDataDir(dataDir)).rejects.toBeInstanceOf(DataDirLockedError);
    const later = Date.now() + 60_000;
    await (await lockDataDir(dataDir, { now: () => later }))();
  });

  it('names COUNTERSIGN_DATA_DIR when the directory cannot be written', async () => {
    const file = path.join(dataDir, 'a-file');
    await fs.writeFile(file, '');
    await expect(lockDataDir(path.join(file, 'data'))).rejects.toThrow(/^COUNTERSIGN_DATA_DIR: cannot write to .*a-file\/data \(ENOTDIR\)/);
  });
});
