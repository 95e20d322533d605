import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../test/helpers/countersign-process.ts';

const run = promisify(execFile);

/** A throwaway PostgreSQL server of the soak's own: restarting it disturbs nobody else. */
export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`, trust auth. */
  readonly adminUrl: string;
  /** What a `pg_ctl restart` of a production server does to its clients: every connection dropped, then the server back. */
  restart(): Promise<void>;
  /** Stops the server and removes its data directory, or (`keep`) leaves it to be started again. */
  stop(options?: { keep?: boolean }): Promise<void>;
  /** How to start the kept server again, for a post-mortem. */
  readonly startCommand: string;
}

/** The newest PostgreSQL on the machine (Debian's layout: /usr/lib/postgresql/N/bin). */
async function binaries(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = (await fs.readdir(root).catch(() => [] as string[])).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${root} (install postgresql): the pg-restart fault runs its own server`);
  return path.join(root, versions[0]!, 'bin');
}

/**
 * `initdb` into a temporary directory and `pg_ctl start` on a free port, as the `postgres` user
 * when run as root (initdb refuses root). The machine's PostgreSQL on 5432 is shared (other
 * tests, CI): the soak's `pg-restart` fault restarts only this one.
 */
export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = await binaries();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-soak-pg-'));
  const dataDir = path.join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) await run('chown', ['postgres:postgres', dir]);
  const as = (command: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args));
  const port = await freePort();
  const pgCtl = path.join(bin, 'pg_ctl');
  // The socket in the data's own directory, so nothing else's /var/run/postgresql is touched.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off`;
  const stop = async ({ keep = false }: { keep?: boolean } = {}) => {
    // `fast` when kept: a clean shutdown, so the kept data starts again without recovery.
    await as(pgCtl, ['-D', dataDir, '-m', keep ? 'fast' : 'immediate', '-w', 'stop']).catch(() => undefined);
    if (!keep) await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    await as(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    await as(pgCtl, ['-D', dataDir, '-o', options, '-l', path.join(dir, 'server.log'), '-w', 'start']);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
    // `-m fast`: clients are disconnected at once (SQLSTATE 57P01), as a restart for an upgrade does.
    restart: async () => {
      await as(pgCtl, ['-D', dataDir, '-m', 'fast', '-l', path.join(dir, 'server.log'), '-w', 'restart']);
    },
    stop,
    startCommand: `${asRoot ? 'runuser -u postgres -- ' : ''}${pgCtl} -D ${dataDir} -o '${options}' -l ${path.join(dir, 'server.log')} -w start`,
  };
}
