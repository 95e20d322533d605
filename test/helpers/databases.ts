import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe } from 'vitest';
import type { DatabaseTarget } from '../../src/db/open-database.ts';

export interface TestDatabase {
  readonly name: 'pglite' | 'postgres';
  /** A new, empty database: in-memory PGlite, or a fresh PostgreSQL database dropped at `dispose`. */
  create(): Promise<{ target: DatabaseTarget; dispose: () => Promise<void> }>;
}

const pgliteDatabase: TestDatabase = {
  name: 'pglite',
  create: async () => ({ target: { kind: 'pglite', dataDir: 'memory' }, dispose: async () => undefined }),
};

export function postgresDatabase(adminUrl: string): TestDatabase {
  return {
    name: 'postgres',
    async create() {
      const name = `countersign_test_${randomBytes(6).toString('hex')}`;
      const admin = new pg.Client({ connectionString: adminUrl });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      return {
        target: { kind: 'postgres', url: url.toString() },
        async dispose() {
          const client = new pg.Client({ connectionString: adminUrl });
          await client.connect();
          try {
            await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          } finally {
            await client.end();
          }
        },
      };
    },
  };
}

const postgresUrl = process.env.TEST_DATABASE_URL;

/**
 * Runs a suite once on PGlite and once on PostgreSQL. Without TEST_DATABASE_URL the
 * PostgreSQL run is reported as skipped (and the global setup says so loudly).
 */
export function describeEachDatabase(title: string, suite: (database: TestDatabase) => void): void {
  describe(`${title} [pglite]`, () => suite(pgliteDatabase));
  if (postgresUrl) describe(`${title} [postgres]`, () => suite(postgresDatabase(postgresUrl)));
  else describe.skip(`${title} [postgres: skipped, TEST_DATABASE_URL unset]`, () => suite(pgliteDatabase));
}

export { postgresUrl };
