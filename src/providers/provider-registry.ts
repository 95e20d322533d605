import type { Config } from '../config/config.ts';
import { CountersignError } from '../primitives/errors.ts';
import type { ProviderName } from '../projects/mapping-schema.ts';
import { pino, type Logger } from 'pino';
import { createLocalAdapter } from './local/local-adapter.ts';
import { EXACT_IDENTITIES, type IdentityRules } from '../primitives/identity-key.ts';
import type { ProviderAdapter, ProviderCapabilities } from './provider-adapter.ts';

/** The secret a rotation is moving away from, still accepted on webhooks until it is unset. */
const previous = (provider: { previousWebhookSecret?: string }) => (provider.previousWebhookSecret ? { additionalWebhookSecrets: [provider.previousWebhookSecret] } : {});

export interface ProviderRegistry {
  readonly available: ReadonlySet<ProviderName>;
  get(name: string): ProviderAdapter;
  /**
   * What provider `name` can do; for one this server does not run (a stored approval of a
   * provider since unconfigured), what a ticket system elsewhere does: decided on its ticket,
   * told of outcomes, nothing more.
   */
  capabilities(name: string): ProviderCapabilities;
  /** How provider `name` compares identities; exact for one this server does not run. */
  identities(name: string): IdentityRules;
}

/** What the registry answers for a provider it does not run. */
const ELSEWHERE: ProviderCapabilities = { decidesInCountersign: false, updatesTickets: true, webhooks: false, reconciles: false, revertsCountedVotes: false };

/**
 * The providers this server can talk to, from its configuration. GitHub's and Jira's code
 * (Octokit, jira.js: jira.js alone is most of a start-up's imports) is loaded only when that
 * provider is configured.
 */
export async function createProviderRegistry(config: Config, extra: ProviderAdapter[] = [], logger: Logger = pino({ enabled: false })): Promise<ProviderRegistry> {
  const adapters = new Map<string, ProviderAdapter>([['local', createLocalAdapter()]]);
  if (config.github) {
    const [{ createGitHubAdapter }, { createGitHubClient }] = await Promise.all([import('./github/github-adapter.ts'), import('./github/github-client.ts')]);
    const client = createGitHubClient(config.github, { logger });
    adapters.set('github', createGitHubAdapter(client, { webhookSecret: config.github.webhookSecret, ...previous(config.github), auth: config.github.token ? 'token' : 'app', logger, apiUrl: config.github.apiUrl }));
  }
  if (config.jira) {
    const [{ createJiraAdapter }, { createJiraClient }] = await Promise.all([import('./jira/jira-adapter.ts'), import('./jira/jira-client.ts')]);
    adapters.set('jira', createJiraAdapter(createJiraClient(config.jira, { logger }), { webhookSecret: config.jira.webhookSecret, ...previous(config.jira), logger, host: config.jira.host }));
  }
  for (const adapter of extra) adapters.set(adapter.name, adapter);
  return {
    available: new Set([...adapters.keys()] as ProviderName[]),
    get(name) {
      const adapter = adapters.get(name);
      if (!adapter) throw new CountersignError(503, 'provider_unavailable', `provider ${name} is not configured on this server`);
      return adapter;
    },
    capabilities: (name) => adapters.get(name)?.capabilities ?? ELSEWHERE,
    identities: (name) => adapters.get(name)?.identities ?? EXACT_IDENTITIES,
  };
}
