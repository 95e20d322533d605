import { sql } from 'kysely';
import type { ProviderEventTables } from '../db/schema.ts';
import { CountersignError, unauthorized } from '../primitives/errors.ts';
import type { ProviderName } from '../projects/mapping-schema.ts';
import { findProject } from '../projects/project-store.ts';
import type { Services } from '../services.ts';
import { applyTicketActivity } from './apply-ticket-activity.ts';

export type Headers = Readonly<Record<string, string | undefined>>;

export interface WebhookAnswer {
  status: number;
  body: Record<string, unknown>;
  /** The work left after answering; the caller runs it once the response is on its way. */
  work?: () => Promise<void>;
}

/**
 * One provider webhook delivery, framework-free: verify the signature over the raw body (401 and
 * nothing stored when it fails), answer `ping`, ignore what is not about a Countersign ticket,
 * drop a delivery id seen before, and hand back the decision work to run after answering:
 * GitHub does not retry deliveries and wants an answer within 10 s, and whatever is lost
 * after the answer is found again by reconciliation.
 */
export async function receiveProviderWebhook(services: Services, provider: ProviderName, rawBody: string, headers: Headers): Promise<WebhookAnswer> {
  const webhooks = services.providers.get(provider).webhooks;
  if (!webhooks) throw new CountersignError(404, 'not_found', `provider ${provider} takes no webhooks`);
  if (!(await webhooks.verify(rawBody, headers))) {
    throw unauthorized(`the webhook signature is missing or wrong; check that the webhook's secret matches ${provider.toUpperCase()}_WEBHOOK_SECRET`);
  }
  const parsed = webhooks.parse(rawBody, headers);
  if (parsed.kind === 'ping') return { status: 200, body: { ok: true } };
  if (parsed.kind === 'ignored') return { status: 202, body: { ignored: parsed.reason } };
  const approvalId = parsed.approvalId ?? (await findApprovalByTicket(services, provider, parsed.ticketKey));
  if (!approvalId) return { status: 202, body: { ignored: `no ${provider} approval has ticket ${parsed.ticketKey}` } };

  const deliveryId = webhooks.deliveryId(headers);
  const db = services.db.withTables<ProviderEventTables>();
  if (deliveryId) {
    const fresh = await db
      .insertInto('webhook_deliveries')
      .values({ provider, delivery_id: deliveryId, event: parsed.event ?? headers['x-github-event'] ?? headers['x-event-key'] ?? 'unknown' })
      .onConflict((oc) => oc.doNothing())
      .returning('delivery_id')
      .executeTakeFirst();
    if (!fresh) return { status: 200, body: { duplicate: true } };
  }
  const log = services.logger.child({ provider, deliveryId, approvalId });

  return {
    status: 202,
    body: { accepted: true, approvalId },
    async work() {
      try {
        // A batch ticket speaks for its batch (`bat_…`): the activity is applied to every pending item.
        const target = approvalId.startsWith('bat_')
          ? await services.db.selectFrom('batches').select(['project']).where('id', '=', approvalId).executeTakeFirst()
          : await services.db.selectFrom('approvals').select(['project']).where('id', '=', approvalId).executeTakeFirst();
        const project = target ? await findProject(services.db, target.project) : undefined;
        if (!project) return log.info('webhook names no approval of a mapped project; ignored');
        const activity = await parsed.activity(project, approvalId);
        if (!activity) return log.debug('webhook is nothing to act on');
        const result = await applyTicketActivity(services, provider, activity);
        log.info({ actor: activity.actor, kind: activity.kind, result: result.result, ...(result.result === 'attempted' ? { decision: result.decision.result } : {}) }, 'webhook applied');
      } catch (error) {
        log.error({ err: error }, 'webhook could not be applied; reconciliation will pick it up');
        // Forget the delivery so a manual redelivery of the same id is applied.
        if (deliveryId) await db.deleteFrom('webhook_deliveries').where('provider', '=', provider).where('delivery_id', '=', deliveryId).execute().catch(() => undefined);
      }
    },
  };
}

/**
 * The approval whose stored ticket is `ticketKey` (index `approvals_ticket_key`, migration 0005),
 * or the batch's id when it is a batch ticket: its items store the batch's ticket too, and
 * must not be decided one by one as if the ticket were theirs.
 */
async function findApprovalByTicket(services: Services, provider: ProviderName, ticketKey: string): Promise<string | undefined> {
  const batch = await services.db.selectFrom('batches').select('id').where('provider', '=', provider).where(sql<string>`ticket->>'key'`, '=', ticketKey).executeTakeFirst();
  if (batch) return batch.id;
  const row = await services.db.selectFrom('approvals').select('id').where('provider', '=', provider).where(sql<string>`ticket->>'key'`, '=', ticketKey).executeTakeFirst();
  return row?.id;
}
