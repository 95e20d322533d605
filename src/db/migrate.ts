import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import * as foundation from './migrations/0001-foundation.ts';
import * as audit from './migrations/0002-audit.ts';
import * as github from './migrations/0003-github.ts';
import * as callbacks from './migrations/0004-callbacks.ts';
import * as jira from './migrations/0005-jira.ts';
import * as rules from './migrations/0006-rules.ts';
import * as auditQueue from './migrations/0007-audit-queue.ts';
import * as cheaperAuditWrites from './migrations/0008-cheaper-audit-writes.ts';
import * as auditTruncationGuards from './migrations/0009-audit-truncation-guards.ts';
import * as ticketErrors from './migrations/0010-ticket-errors.ts';

/** Migrations are listed here, not read from a folder, so a bundled or globally installed CLI finds them. */
const MIGRATIONS: Record<string, Migration> = {
  '0001-foundation': foundation,
  '0002-audit': audit,
  '0003-github': github,
  '0004-callbacks': callbacks,
  '0005-jira': jira,
  '0006-rules': rules,
  '0007-audit-queue': auditQueue,
  '0008-cheaper-audit-writes': cheaperAuditWrites,
  '0009-audit-truncation-guards': auditTruncationGuards,
  '0010-ticket-errors': ticketErrors,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableName: 'countersign_migrations', migrationLockTableName: 'countersign_migrations_lock' });
  const { error, results = [] } = await migrator.migrateToLatest();
  const failed = results.find((r) => r.status === 'Error');
  if (error) throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${String(error)}`, { cause: error });
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
