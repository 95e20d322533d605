import type { ProviderAdapter } from '../../src/providers/provider-adapter.ts';

/**
 * A ticket system other than `local`, answering at once: its tickets are opened by the
 * ticket-create job, as GitHub's and Jira's are, without any network.
 */
export const standInGitHub: ProviderAdapter = {
  name: 'github',
  capabilities: { decidesInCountersign: false, updatesTickets: true, webhooks: false, reconciles: false, revertsCountedVotes: false },
  createTicket: async (request) => ({ provider: 'github', key: `acme/approvals#${request.approvalId.length}`, url: 'http://127.0.0.1/issues/1' }),
  updateTicket: async () => undefined,
};
