import type { Kysely, Transaction } from 'kysely';
import type { Database, ProviderEventTables } from '../db/schema.ts';

/**
 * Records an activity id as applied, per `provider` (a ticket system, or a notification
 * channel for answers given there: `slack`); false when it was applied before (a redelivery, or
 * reconciliation seeing it again). Claimed whatever comes of it (counted, refused, escalated),
 * so the same activity seen again finds it taken.
 */
export async function claimActivity(db: Kysely<Database>, provider: string, activityId: string, approvalId: string): Promise<boolean> {
  const fresh = await db
    .withTables<ProviderEventTables>()
    .insertInto('ticket_activities')
    .values({ provider, activity_id: activityId, approval_id: approvalId })
    .onConflict((oc) => oc.doNothing())
    .returning('activity_id')
    .executeTakeFirst();
  return fresh !== undefined;
}

/**
 * Claims the activity and applies it in one transaction: a process that dies in between leaves
 * the activity unclaimed, so its redelivery (or reconciliation) applies it, rather than finding
 * it taken with its answer never queued. `claimed: false` when it was applied before.
 */
export async function claimAndApply<R>(db: Kysely<Database>, provider: string, activityId: string, approvalId: string, apply: (trx: Transaction<Database>) => Promise<R>): Promise<{ claimed: false } | { claimed: true; result: R }> {
  return db.transaction().execute(async (trx) => {
    if (!(await claimActivity(trx, provider, activityId, approvalId))) return { claimed: false } as const;
    return { claimed: true, result: await apply(trx) } as const;
  });
}
