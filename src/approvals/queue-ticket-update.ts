import type { SqlExecutor } from '../db/open-database.ts';
import type { JobData, JobQueue } from '../jobs/job-queue.ts';
import type { ProviderRegistry } from '../providers/provider-registry.ts';

/** What queueing a ticket update needs: the queue, and the registry to ask whether the provider keeps a ticket apart. */
export interface TicketUpdateQueueDeps {
  readonly jobs: Pick<JobQueue, 'send'>;
  readonly providers: Pick<ProviderRegistry, 'get'>;
}

/**
 * Queues a ticket update in the caller's transaction, unless the provider keeps no ticket
 * apart from the approval (`local`: no `updatesTickets`): a job per decision that would do
 * nothing is a write and a fetch for nothing.
 */
export async function queueTicketUpdate(deps: TicketUpdateQueueDeps, executor: SqlExecutor, provider: string, data: JobData['ticket-update']): Promise<void> {
  if (!deps.providers.get(provider).capabilities.updatesTickets) return;
  await deps.jobs.send(executor, 'ticket-update', data);
}
