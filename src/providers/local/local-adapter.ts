import type { ProviderAdapter } from '../provider-adapter.ts';

/**
 * The embedded ticket system: the approval is its own ticket, read at its API URL and
 * decided with `countersign decide` or `POST /v1/approvals/{id}/decision`.
 */
export function createLocalAdapter(): ProviderAdapter {
  return {
    name: 'local',
    async createTicket(request) {
      return { provider: 'local', key: request.approvalId, url: request.approvalUrl };
    },
    async updateTicket() {
      // The approval row is the ticket: the decision engine has already written it.
    },
  };
}
