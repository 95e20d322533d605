import { executorFor } from '../db/open-database.ts';
import type { Services } from '../services.ts';

/**
 * Queues the one comment (and undo, `revert`) for an attempt on a ticket that changed nothing:
 * `targetId` is the approval or batch whose ticket answers.
 */
export async function refuseOnTicket(services: Pick<Services, 'db' | 'jobs'>, targetId: string, actor: string, reason: string, revert?: string): Promise<void> {
  await services.jobs.send(executorFor(services.db), 'ticket-update', { approvalId: targetId, update: 'refused', actor, reason, ...(revert ? { revert } : {}) });
}
