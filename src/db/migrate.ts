import { sql, type Kysely } from 'kysely';
import { Migrator, type Migration, type MigrationProvider } from 'kysely/migration';
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
import * as people from './migrations/0011-people.ts';
import * as inbox from './migrations/0013-inbox.ts';
import * as review from './migrations/0014-review.ts';
import * as editsAndGrants from './migrations/0016-edits-and-grants.ts';
import * as intakeChecks from './migrations/0021-intake-checks.ts';
import * as noticeSends from './migrations/0022-notice-sends.ts';
import * as callbackSweep from './migrations/0024-callback-sweep.ts';

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
  '0011-people': people,
  '0013-inbox': inbox,
  '0014-review': review,
  '0016-edits-and-grants': editsAndGrants,
  '0021-intake-checks': intakeChecks,
  '0022-notice-sends': noticeSends,
  '0024-callback-sweep': callbackSweep,
};

const provider: MigrationProvider = { getMigrations: async () => MIGRATIONS };

/**
 * Whether the database has run exactly the migrations listed here. One query, where the
 * Migrator takes its lock table, its lock and several reads: most of a restart's database
 * time on the embedded PGlite. Anything else (a fresh database, a missing or unknown
 * migration) goes through the Migrator, which checks and explains.
 */
async function isUpToDate(db: Kysely<unknown>): Promise<boolean> {
  try {
    const { rows } = await sql<{ name: string }>`select name from countersign_migrations`.execute(db);
    const done = new Set(rows.map((row) => row.name));
    return done.size === Object.keys(MIGRATIONS).length && Object.keys(MIGRATIONS).every((name) => done.has(name));
  } catch {
    return false;
  }
}

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<unknown>): Promise<string[]> {
  if (await isUpToDate(db)) return [];
  const migrator = new Migrator({ db, provider, migrationTableName: 'countersign_migrations', migrationLockTableName: 'countersign_migrations_lock' });
  const { error, results = [] } = await migrator.migrateToLatest();
  const failed = results.find((r) => r.status === 'Error');
  if (error) throw new Error(`migration ${failed?.migrationName ?? '(unknown)'} failed: ${String(error)}`, { cause: error });
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
