import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../../src/config/config.ts';
import { createProviderRegistry } from '../../../src/providers/provider-registry.ts';

/**
 * The core asks an adapter's flags what it can do; each flag must say what the adapter's
 * members do, or a route, a job or a reconciliation run would be missing (or call nothing).
 */
describe('provider capabilities', () => {
  const config = resolveConfig({
    COUNTERSIGN_DATA_DIR: '/tmp/countersign-capabilities-unused',
    GITHUB_TOKEN: 'ghp_test',
    GITHUB_WEBHOOK_SECRET: 'secret',
    JIRA_HOST: 'https://acme.atlassian.net',
    JIRA_EMAIL: 'bot@acme.example',
    JIRA_API_TOKEN: 'token',
    JIRA_WEBHOOK_SECRET: 'secret',
  });

  it('match the members of every built-in adapter', async () => {
    const registry = await createProviderRegistry(config);
    expect([...registry.available].sort()).toEqual(['github', 'jira', 'local']);
    for (const name of registry.available) {
      const adapter = registry.get(name);
      expect({ name, updatesTickets: adapter.capabilities.updatesTickets, webhooks: adapter.capabilities.webhooks, reconciles: adapter.capabilities.reconciles }).toEqual({
        name,
        updatesTickets: adapter.updateTicket !== undefined,
        webhooks: adapter.webhooks !== undefined,
        reconciles: adapter.reconcile !== undefined,
      });
      // Deciding in Countersign is for the provider whose approval is its own ticket.
      expect(adapter.capabilities.decidesInCountersign).toBe(adapter.ticketAtIntake !== undefined);
    }
  });

  it('say which provider puts a counted vote back and which decides in Countersign', async () => {
    const registry = await createProviderRegistry(config);
    expect(Object.fromEntries([...registry.available].map((name) => [name, registry.capabilities(name)]))).toMatchObject({
      local: { decidesInCountersign: true, revertsCountedVotes: false },
      github: { decidesInCountersign: false, revertsCountedVotes: false },
      // A Jira status can be entered once: the next reviewer needs the issue back where it was.
      jira: { decidesInCountersign: false, revertsCountedVotes: true },
    });
  });

  it('answer for a provider this server does not run as for a ticket system elsewhere', async () => {
    const registry = await createProviderRegistry(resolveConfig({ COUNTERSIGN_DATA_DIR: '/tmp/countersign-capabilities-unused' }));
    expect(registry.capabilities('jira')).toMatchObject({ decidesInCountersign: false, updatesTickets: true, webhooks: false });
  });
});
