import type { SqlExecutor } from '../db/open-database.ts';
import type { JobData } from '../jobs/job-queue.ts';
import type { Services } from '../services.ts';

/**
 * Queues a ticket update in the caller's transaction, unless the provider keeps no ticket
 * apart from the approval (`local`, whose adapter has no `updateTicket`): a job per decision
 * that would do nothing is a write and a fetch for nothing.
 */
export async function queueTicketUpdate(services: Services, executor: SqlExecutor, provider: string, data: JobData['ticket-update']): Promise<void> {
  if (!services.providers.get(provider).updateTicket) return;
  await services.jobs.send(executor, 'ticket-update', data);
}
