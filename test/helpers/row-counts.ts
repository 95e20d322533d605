import { sql } from 'kysely';
import type { Services } from '../../src/services.ts';

/** What an intake can write: approval rows, idempotency keys and pg-boss jobs. */
export async function rowCounts(services: Services): Promise<{ approvals: number; idempotencyKeys: number; jobs: number }> {
  const count = async (table: string) => {
    const { rows } = await sql<{ n: string | number }>`select count(*) as n from ${sql.raw(table)}`.execute(services.db);
    return Number(rows[0]!.n);
  };
  return { approvals: await count('approvals'), idempotencyKeys: await count('idempotency_keys'), jobs: await count('pgboss.job') };
}
