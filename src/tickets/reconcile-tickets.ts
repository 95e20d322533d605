import { ActivityAlreadyApplied, decideApproval } from '../approvals/decide-approval.ts';
import type { ChannelMessageRef, NotificationChannel } from '../channels/notification-channel.ts';
import { claimActivity } from './ticket-activity-claims.ts';
import { resolveActivityTarget } from '../tickets/activity-target.ts';
import { applyTicketActivity } from './apply-ticket-activity.ts';
import type { ProviderEventTables } from '../db/schema.ts';
import type { ProjectMapping, ProviderName } from '../projects/mapping-schema.ts';
import { findProject } from '../projects/project-store.ts';
import type { PendingTicket } from '../providers/provider-adapter.ts';
import type { Services } from '../services.ts';

/** Every minute: GitHub does not retry a failed delivery, so a missed decision waits at most about this long. */
export const RECONCILE_CRON = '* * * * *';
/**
 * Pending tickets read per query, oldest first. Every page is reconciled in the same run: with
 * one page only, a deployment with more pending tickets than this (requests nobody decides for
 * a while) never reconciled its newer ones, and a vote whose webhook was lost there stayed lost
 * (the soak's batch items left pending, issue 19).
 */
const PAGE_SIZE = 500;
/** Delivery ids are kept this long: GitHub lets a delivery be redelivered by hand for 3 days. */
const DELIVERY_RETENTION_MS = 7 * 24 * 3600_000;

export interface ReconcileSummary {
  tickets: number;
  activities: number;
  attempted: number;
}

/**
 * Reads the pending tickets of each provider that can reconcile and applies what people did on
 * them through the same path as a webhook (`applyTicketActivity` → `decideApproval`), so a
 * decision whose webhook was lost still lands. Re-reading something already applied is
 * harmless: every activity is applied once by its content id (the one its webhook has too).
 * `pageSize`: tickets per read (tests use a small one to cover several pages).
 */
export async function runReconcileTickets(services: Services, options: { pageSize?: number } = {}): Promise<ReconcileSummary> {
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const summary: ReconcileSummary = { tickets: 0, activities: 0, attempted: 0 };
  for (const name of services.providers.available) {
    const adapter = services.providers.get(name);
    if (!adapter.capabilities.reconciles || !adapter.reconcile) continue;
    const projects = new Map<string, ProjectMapping | undefined>();
    // A batch's items can straddle two pages: its ticket is read once per run.
    const batches = new Set<string>();
    // Keyset pages by id: approvals decided meanwhile drop out without shifting the next page.
    for (let after = ''; ; ) {
      const rows = await services.db
        .selectFrom('approvals')
        .select(['id', 'project', 'ticket', 'created_at', 'batch_id'])
        .where('provider', '=', name)
        .where('status', '=', 'pending')
        .where('ticket', 'is not', null)
        .where('id', '>', after)
        .orderBy('id')
        .limit(pageSize)
        .execute();
      if (rows.length === 0) break;
      after = rows.at(-1)!.id;
      const tickets: PendingTicket[] = [];
      for (const row of rows) {
        if (!projects.has(row.project)) projects.set(row.project, await findProject(services.db, row.project));
        const project = projects.get(row.project);
        if (!project || !row.ticket) continue;
        if (row.batch_id) {
          // A batched request's ticket is its batch's: read once, applied to the batch (`bat_…`).
          if (batches.has(row.batch_id)) continue;
          batches.add(row.batch_id);
          const batch = await services.db.selectFrom('batches').select(['created_at', 'ticket']).where('id', '=', row.batch_id).executeTakeFirst();
          if (batch?.ticket) tickets.push({ approvalId: row.batch_id, ticket: batch.ticket, project, createdAt: new Date(batch.created_at) });
          continue;
        }
        tickets.push({ approvalId: row.id, ticket: row.ticket, project, createdAt: new Date(row.created_at) });
      }
      if (tickets.length > 0) await reconcilePage(services, name, tickets, projects, summary);
      if (rows.length < pageSize) break;
    }
  }
  await reconcileChannels(services, summary, pageSize);
  await services.db
    .withTables<ProviderEventTables>()
    .deleteFrom('webhook_deliveries')
    .where('received_at', '<', new Date(services.now().getTime() - DELIVERY_RETENTION_MS))
    .execute();
  return summary;
}

/** One page of a provider's pending tickets: what people did on them, applied as its webhook would have. */
async function reconcilePage(services: Services, name: ProviderName, tickets: PendingTicket[], projects: Map<string, ProjectMapping | undefined>, summary: ReconcileSummary): Promise<void> {
  const adapter = services.providers.get(name);
  summary.tickets += tickets.length;
  const activities = await adapter.reconcile!(tickets);
  summary.activities += activities.length;
  // The projects read above serve the targets too: each activity's row is read once, here.
  const lookup = async (key: string) => (projects.has(key) ? projects.get(key) : findProject(services.db, key));
  for (const activity of activities) {
    const log = services.logger.child({ provider: name, approvalId: activity.approvalId, actor: activity.actor });
    try {
      const target = await resolveActivityTarget(services.db, activity.approvalId, lookup);
      if (!target) continue;
      const result = await applyTicketActivity(services, name, activity, target);
      if (result.result !== 'ignored' && result.result !== 'duplicate') {
        summary.attempted += 1;
        log.info({ kind: activity.kind, result: result.result === 'attempted' ? result.decision.result : result.result }, 'reconciliation applied a missed ticket activity');
      }
    } catch (error) {
      log.error({ err: error }, 'reconciliation could not apply a ticket activity; next run tries again');
    }
  }
}

/**
 * The same for notification channels that can read answers back (`notify.slack` threads):
 * each pending approval's notice is re-read and every answer found decides through the engine
 * as that channel's actor, applied once by its id (the one its live event had).
 */
async function reconcileChannels(services: Services, summary: ReconcileSummary, pageSize: number): Promise<void> {
  for (const channel of services.channels.all) {
    if (!channel.capabilities.reconciles || !channel.reconcile) continue;
    // Keyset pages by approval id, as for tickets: every shown notice is read back, not only the oldest page.
    for (let after = ''; ; ) {
      const shown = await services.db
        .selectFrom('channel_messages')
        .innerJoin('approvals', 'approvals.id', 'channel_messages.approval_id')
        .select(['channel_messages.approval_id as approvalId', 'channel_messages.ref as ref'])
        .where('channel_messages.channel', '=', channel.name)
        .where('channel_messages.ref', 'is not', null)
        .where('approvals.status', '=', 'pending')
        .where('channel_messages.approval_id', '>', after)
        .orderBy('channel_messages.approval_id')
        .limit(pageSize)
        .execute();
      if (shown.length === 0) break;
      after = shown.at(-1)!.approvalId;
      await reconcileChannelPage(services, channel, shown, summary);
      if (shown.length < pageSize) break;
    }
  }
}

/** One page of a channel's shown notices: the answers read back, each decided once by its id. */
async function reconcileChannelPage(services: Services, channel: NotificationChannel, shown: Array<{ approvalId: string; ref: unknown }>, summary: ReconcileSummary): Promise<void> {
  summary.tickets += shown.length;
  const answers = await channel.reconcile!(shown.map((row) => ({ approvalId: row.approvalId, message: row.ref as ChannelMessageRef })));
  summary.activities += answers.length;
  for (const answer of answers) {
    try {
      const result = await decideApproval(
        services,
        { approvalId: answer.approvalId, reviewer: answer.actor.id, namespace: answer.actor.namespace, outcome: answer.outcome, reason: answer.reason, via: channel.name },
        { claim: (trx) => claimActivity(trx, channel.name, answer.id, answer.approvalId) },
      );
      summary.attempted += 1;
      services.logger.info({ channel: channel.name, approvalId: answer.approvalId, result: result.result }, 'reconciliation applied a missed channel answer');
    } catch (error) {
      if (error instanceof ActivityAlreadyApplied) continue;
      services.logger.error({ err: error, channel: channel.name, approvalId: answer.approvalId }, 'reconciliation could not apply a channel answer; next run tries again');
    }
  }
}
