import { sql } from 'kysely';
import type { Services } from '../../src/services.ts';
import { until } from './until.ts';

/** A delivery as it crossed the wire: the signed body and the headers, of which only the signature is covered. */
export interface CapturedDelivery {
  body: string;
  headers: Record<string, string>;
}

/**
 * The headers an attacker resending a captured delivery can choose freely: a fresh delivery id
 * (`deliveryHeader`), and on the second try every other unsigned header changed too.
 */
export function replayHeaders(headers: Record<string, string>, deliveryHeader: string): Record<string, string>[] {
  const fresh = () => `replayed-${crypto.randomUUID()}`;
  return [
    { ...headers, [deliveryHeader]: fresh() },
    { ...headers, [deliveryHeader]: fresh(), 'user-agent': 'curl/8.0', 'x-github-hook-id': '1', 'x-atlassian-webhook-retry': '3', 'x-forwarded-for': '203.0.113.9' },
  ];
}

/**
 * Everything of one approval a user could notice — its row, votes, audit records, queued
 * jobs (comments, label changes, timers, callbacks) and the ticket — once the ticket jobs it
 * queued have run, so two snapshots compare equal exactly when nothing happened in between.
 */
export async function settledState<T>(services: Services, approvalId: string, ticket: () => T) {
  await until(
    async () => (await sql<{ n: string | number }>`select count(*) as n from pgboss.job where data->>'approvalId' = ${approvalId} and name in ('ticket-create', 'ticket-update') and state <> 'completed'`.execute(services.db)).rows[0]!.n,
    (n) => Number(n) === 0,
  );
  await services.audit.flush();
  const row = await services.db.selectFrom('approvals').select(['status', 'escalation_tier', 'required_approvals', 'labels', 'decision']).where('id', '=', approvalId).executeTakeFirstOrThrow();
  const votes = await services.db.selectFrom('decision_votes').select(['reviewer', 'outcome']).where('approval_id', '=', approvalId).orderBy('reviewer').execute();
  const audit = await services.db.selectFrom('audit_records').select('event').where('approval_id', '=', approvalId).orderBy('seq').execute();
  const jobs = await sql<{ name: string; n: string | number }>`select name, count(*) as n from pgboss.job where data->>'approvalId' = ${approvalId} group by name order by name`.execute(services.db);
  return {
    approval: row,
    votes,
    audit: audit.map((record) => record.event),
    jobs: Object.fromEntries(jobs.rows.map((job) => [job.name, Number(job.n)])),
    ticket: structuredClone(ticket()),
  };
}
