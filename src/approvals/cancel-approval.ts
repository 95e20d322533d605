import { queueChannelNotice } from '../channels/channel-notices.ts';
import { queueTicketUpdate } from './queue-ticket-update.ts';
import { executorFor } from '../db/open-database.ts';
import type { ApprovalRow } from '../db/schema.ts';
import { conflict } from '../primitives/errors.ts';
import type { Principal } from '../keys/api-keys.ts';
import type { Services } from '../services.ts';
import { requireOwnOrAdmin, requireScope, requireVisibleApproval } from './access.ts';
import { notifyApprovalChanged } from './decide-approval.ts';

/**
 * The agent withdraws a pending request; the ticket is told by a job. Only the key that
 * requested it, or an `admin` key, may; an approval of a project the key is not for answers
 * the 404 of an unknown id.
 */
export async function cancelApproval(services: Services, principal: Principal, approvalId: string): Promise<ApprovalRow> {
  if (!principal.scopes.has('admin')) requireScope(principal, 'intake');
  return services.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('approvals').selectAll().where('id', '=', approvalId).forUpdate().executeTakeFirst();
    const approval = requireVisibleApproval(principal, approvalId, row);
    requireOwnOrAdmin(principal, approval);
    if (approval.status !== 'pending') throw conflict('not_pending', `approval ${approvalId} is already ${approval.status}`);
    const cancelled = await trx
      .updateTable('approvals')
      .set({ status: 'cancelled', decided_at: services.now() })
      .where('id', '=', approvalId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await queueTicketUpdate(services, executorFor(trx), cancelled.provider, { approvalId, update: 'cancelled' });
    await queueChannelNotice(services, trx, cancelled, { kind: 'cancelled' });
    await notifyApprovalChanged(trx, approvalId);
    await services.audit.append(trx, { event: 'approval.cancelled', approvalId, actor: { kind: 'agent', id: principal.keyId, via: 'api' } });
    return cancelled;
  });
}
