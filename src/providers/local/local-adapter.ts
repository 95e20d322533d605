import type { ProviderAdapter } from '../provider-adapter.ts';

/**
 * The embedded ticket system: the approval is its own ticket, read at its API URL and
 * decided with `countersign decide` or `POST /v1/approvals/{id}/decision`.
 */
export function createLocalAdapter(): ProviderAdapter {
  return {
    name: 'local',
    capabilities: { decidesInCountersign: true, updatesTickets: false, webhooks: false, reconciles: false, revertsCountedVotes: false },
    // Local identities are logins an operator types (the mapping, `keys create --reviewer`,
    // `decide --as`), never chosen by an outsider: they compare like GitHub logins, so
    // `Alice` in a key is the `alice` of the mapping and the requester rule cannot be dodged by case.
    identities: { caseInsensitive: true },
    ticketAtIntake: (request) => ({ provider: 'local', key: request.approvalId, url: request.approvalUrl }),
    // Batches have no row of their own to be their ticket: the batch's API URL is.
    async createTicket(request) {
      return { provider: 'local', key: request.approvalId, url: request.approvalUrl };
    },
    // No updateTicket: the approval row is the ticket, and the decision engine writes it.
  };
}
