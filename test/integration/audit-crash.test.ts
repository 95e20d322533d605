import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { readAuditSnapshot } from '../../src/audit/read-audit-snapshot.ts';
import { integratePendingAudit } from '../../src/audit/audit-queue.ts';
import { loadSigner } from '../../src/primitives/signing-key.ts';
import { verifyAuditLog } from '../../src/audit/verify-audit-log.ts';
import { openDatabase, type DatabaseTarget } from '../../src/db/open-database.ts';
import { createLogger } from '../../src/config/logger.ts';
import { describeEachDatabase } from '../helpers/databases.ts';

const CHILD = path.join(import.meta.dirname, '../helpers/audit-burst-child.ts');

/** Runs the appending child until at least `atLeast` records committed, then kills it with SIGKILL. */
async function killMidBurst(target: DatabaseTarget, dataDir: string, atLeast: number): Promise<number> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify(target), dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const committed = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      const counts = [...chunk.toString().matchAll(/committed (\d+)/g)].map((m) => Number(m[1]));
      const latest = Math.max(0, ...counts);
      if (latest >= atLeast) {
        child.kill('SIGKILL');
        resolve(latest);
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`the child exited early (${code ?? signal}): ${stderr}`)));
  });
  await exited;
  return committed;
}

describeEachDatabase('audit log after SIGKILL mid-burst', (database) => {
  it('verifies, with every record the writer saw committed', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-crash-'));
    const created = await database.create();
    // PGlite is killed with its files open: the test reopens the very directory.
    const target: DatabaseTarget = created.target.kind === 'pglite' ? { kind: 'pglite', dataDir } : created.target;
    try {
      const committed = await killMidBurst(target, dataDir, 200);
      // Opened without startServices: the dead child's lock file is not stale yet.
      const reopened = await openDatabase(target, createLogger('silent'));
      try {
        // Entries the child committed but had not chained yet were queued durably: chain them now.
        const signer = await loadSigner({ signingKeyPem: undefined, dataDir });
        while ((await integratePendingAudit(reopened.db, signer)) > 0);
        const report = await verifyAuditLog(await readAuditSnapshot(reopened.db));
        expect(report).toMatchObject({ ok: true, firstSeq: 1 });
        if (report.ok) expect(report.records).toBeGreaterThan(committed);
      } finally {
        await reopened.close();
      }
    } finally {
      await created.dispose();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
