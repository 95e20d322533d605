import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ConfigError } from '../config/config.ts';

/** Who holds a data directory: enough to tell, after a crash, whether that process still runs. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** Linux: `/proc/sys/kernel/random/boot_id`; a pid from another boot is no process of ours. */
  bootId: string | null;
  /** Linux: the process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22); tells a reused pid apart. */
  startTicks: string | null;
  startedAt: string;
}

/** The embedded database's directory is held by a live process (a running server or CLI command). */
export class DataDirLockedError extends Error {
  readonly dataDir: string;
  readonly owner: LockOwner | undefined;

  constructor(dataDir: string, owner: LockOwner | undefined) {
    const who = owner ? `countersign process ${owner.pid}${owner.hostname !== os.hostname() ? ` on ${owner.hostname}` : ''}` : 'another countersign process';
    super(`the embedded database in ${dataDir} is in use by ${who}`);
    this.name = 'DataDirLockedError';
    this.dataDir = dataDir;
    this.owner = owner;
  }
}

export const lockFilePath = (dataDir: string) => path.join(dataDir, 'countersign.lock');

/**
 * A lock held by a process on another host (a shared volume) cannot be checked with a signal;
 * its owner refreshes the file's mtime every HEARTBEAT_MS, and it counts as abandoned after STALE_MS.
 */
const HEARTBEAT_MS = 5_000;
const STALE_MS = 30_000;

const NOT_WRITABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'ENOSPC']);

async function readFirstLine(file: string): Promise<string | null> {
  try {
    return (await fs.readFile(file, 'utf8')).trim() || null;
  } catch {
    return null;
  }
}

/** Field 22 of /proc/<pid>/stat, read after the `(comm)` field, which may itself hold spaces and parentheses. */
export async function processStartTicks(pid: number): Promise<string | null> {
  const stat = await readFirstLine(`/proc/${pid}/stat`);
  if (!stat) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

const bootId = () => readFirstLine('/proc/sys/kernel/random/boot_id');

async function currentOwner(): Promise<LockOwner> {
  return { pid: process.pid, hostname: os.hostname(), bootId: await bootId(), startTicks: await processStartTicks(process.pid), startedAt: new Date().toISOString() };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the pid exists but belongs to another user; it still holds the lock as far as we can tell.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Whether the recorded owner may still hold the directory; false only when it is certainly gone. */
async function ownerMayRun(owner: LockOwner, lockMtimeMs: number, nowMs: number): Promise<boolean> {
  if (owner.hostname !== os.hostname()) return nowMs - lockMtimeMs < STALE_MS;
  const boot = await bootId();
  if (owner.bootId && boot && owner.bootId !== boot) return false;
  if (owner.pid === process.pid && owner.startTicks === (await processStartTicks(process.pid))) return true;
  if (!isAlive(owner.pid)) return false;
  // The pid runs, but if it started at another time it is another program that got the pid after ours died.
  if (owner.startTicks) {
    const ticks = await processStartTicks(owner.pid);
    if (ticks && ticks !== owner.startTicks) return false;
  }
  return true;
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    return typeof value.pid === 'number' && typeof value.hostname === 'string'
      ? { pid: value.pid, hostname: value.hostname, bootId: value.bootId ?? null, startTicks: value.startTicks ?? null, startedAt: value.startedAt ?? '' }
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the data directory for this process, so only one process opens the embedded
 * database (two PGlite instances on one directory corrupt it). The lock file records its
 * owner; a lock whose owner is dead — killed with SIGKILL, the machine rebooted, the pid now
 * another program's — is taken over at once instead of waiting for it to go stale. A live
 * owner makes this throw DataDirLockedError naming its pid. Returns the release function.
 *
 * @example
 * const release = await lockDataDir('./.countersign');
 * try { ... } finally { await release(); }
 */
export async function lockDataDir(dataDir: string, options: { now?: () => number } = {}): Promise<() => Promise<void>> {
  const now = options.now ?? Date.now;
  const file = lockFilePath(dataDir);
  const me = JSON.stringify(await currentOwner());
  // Written aside and linked into place, so a reader never sees a half-written lock.
  const draft = `${file}.${process.pid}`;
  try {
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    await fs.writeFile(draft, `${me}\n`, { mode: 0o600 });
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code && NOT_WRITABLE.has(code)) throw new ConfigError(`COUNTERSIGN_DATA_DIR: cannot write to ${dataDir} (${code}); make it a directory this user can write, or point COUNTERSIGN_DATA_DIR elsewhere`);
    throw error;
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await fs.link(draft, file);
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
      }
      await takeOverIfAbandoned(dataDir, file, now());
    }
  } finally {
    await fs.rm(draft, { force: true });
  }

  const heartbeat = setInterval(() => {
    const at = new Date(now());
    fs.utimes(file, at, at).catch(() => undefined);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    clearInterval(heartbeat);
    // Only our own lock is removed: never one another process took after deciding we were gone.
    if ((await readFirstLine(file)) === me) await fs.rm(file, { force: true });
  };
}

/** Removes the lock file when its owner is certainly gone; throws DataDirLockedError when it may still run. */
async function takeOverIfAbandoned(dataDir: string, file: string, nowMs: number): Promise<void> {
  let stat;
  try {
    stat = await fs.lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (stat.isDirectory()) {
    // Versions before this one locked with proper-lockfile: a directory whose mtime its owner refreshed.
    if (nowMs - stat.mtimeMs < STALE_MS) throw new DataDirLockedError(dataDir, undefined);
    await fs.rm(file, { recursive: true, force: true });
    return;
  }
  const text = (await readFirstLine(file)) ?? '';
  const owner = parseOwner(text);
  // An unreadable lock is a write cut off by a crash only if it is old; a fresh one may be mid-write by a live process.
  if (owner ? await ownerMayRun(owner, stat.mtimeMs, nowMs) : nowMs - stat.mtimeMs < STALE_MS) throw new DataDirLockedError(dataDir, owner);
  // Re-read just before removing it: another process starting at the same moment may have taken it over already.
  if (((await readFirstLine(file)) ?? '') === text) await fs.rm(file, { force: true });
}
