import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql, type Transaction } from 'kysely';
import { readAuditSnapshot } from '../../src/audit/read-audit-snapshot.ts';
import { verifyAuditLog, type VerifyOptions, type VerifyReport } from '../../src/audit/verify-audit-log.ts';
import type { CliRuntime } from '../../src/cli/cli-runtime.ts';
import { runCli } from '../../src/cli/run-cli.ts';
import { resolveConfig } from '../../src/config/config.ts';
import type { Database } from '../../src/db/schema.ts';
import { createLogger } from '../../src/config/logger.ts';
import type { Services } from '../../src/services.ts';
import { startServices, type RunningServices, type StartOptions } from '../../src/start-services.ts';
import type { TestDatabase } from './databases.ts';

export interface AuditTestServices {
  services: RunningServices;
  dataDir: string;
  close(): Promise<void>;
}

/** Services without HTTP or workers over a fresh test database, with their own data dir (and signing key). */
export async function startAuditServices(database: TestDatabase, options: Partial<StartOptions> & { env?: Record<string, string> } = {}): Promise<AuditTestServices> {
  const { target, dispose } = await database.create();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-audit-'));
  const { env, ...startOptions } = options;
  const config = resolveConfig({ COUNTERSIGN_DATA_DIR: dataDir, ...env });
  const services = await startServices(config, createLogger('silent'), { workers: false, ...startOptions, target });
  return {
    services,
    dataDir,
    async close() {
      await services.stop();
      await dispose();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Appends `count` test records, each in its own transaction, as state changes do. */
export async function appendTestRecords(services: Services, count: number, label = 'test'): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    await services.db.transaction().execute((trx) => services.audit.append(trx, { event: 'approval.requested', approvalId: `apr_${label}_${i}`, actor: { kind: 'system', id: label, via: 'test' }, data: { i } }));
  }
  await services.audit.flush();
}

class RolledBack extends Error {
  readonly report: VerifyReport;

  constructor(report: VerifyReport) {
    super('rolled back');
    this.report = report;
  }
}

/**
 * Plays an attacker with database access: the triggers are disabled inside one transaction
 * (DDL is transactional), `attack` changes the tables, and verify runs on what it sees;
 * then everything rolls back, so one log serves every case.
 */
export async function verifyAfterTampering(services: Services, attack: (trx: Transaction<Database>) => Promise<void>, options: VerifyOptions = {}): Promise<VerifyReport> {
  try {
    await services.db.transaction().execute(async (trx) => {
      for (const [table, trigger] of [
        ['audit_records', 'audit_records_no_change'],
        ['audit_head', 'audit_head_forward'],
        ['audit_checkpoints', 'audit_checkpoints_no_change'],
      ]) {
        await sql`alter table ${sql.raw(table!)} disable trigger ${sql.raw(trigger!)}`.execute(trx);
      }
      await attack(trx);
      throw new RolledBack(await verifyAuditLog(await readAuditSnapshot(trx), options));
    });
  } catch (error) {
    if (error instanceof RolledBack) return error.report;
    throw error;
  }
  throw new Error('unreachable');
}

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs a command line as the CLI would; without services, any use of the database fails the test. */
export async function runAuditCli(argv: string[], services: Services | undefined, cwd: string): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const runtime: CliRuntime = {
    cwd,
    out: (text) => (stdout += text),
    err: (text) => (stderr += text),
    withServices: (fn) => (services ? fn(services) : Promise.reject(new Error('this command must not touch the database'))),
  };
  const exitCode = await runCli(argv, runtime);
  return { exitCode, stdout, stderr };
}
