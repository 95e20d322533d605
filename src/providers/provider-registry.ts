import type { Config } from '../config.ts';
import { CountersignError } from '../errors.ts';
import type { ProviderName } from '../projects/mapping-schema.ts';
import { pino, type Logger } from 'pino';
import { createGitHubAdapter } from './github/github-adapter.ts';
import { createGitHubClient } from './github/github-client.ts';
import { createJiraAdapter } from './jira/jira-adapter.ts';
import { createJiraClient } from './jira/jira-client.ts';
import { createLocalAdapter } from './local/local-adapter.ts';
import { EXACT_IDENTITIES, type IdentityRules } from './identity-key.ts';
import type { ProviderAdapter } from './provider-adapter.ts';

export interface ProviderRegistry {
  readonly available: ReadonlySet<ProviderName>;
  get(name: string): ProviderAdapter;
  /** How provider `name` compares identities; exact for one this server does not run. */
  identities(name: string): IdentityRules;
}

/** The providers this server can talk to, from its configuration. */
export function createProviderRegistry(config: Config, extra: ProviderAdapter[] = [], logger: Logger = pino({ enabled: false })): ProviderRegistry {
  const adapters = new Map<string, ProviderAdapter>([['local', createLocalAdapter()]]);
  if (config.github) {
    const client = createGitHubClient(config.github, { logger });
    adapters.set('github', createGitHubAdapter(client, { webhookSecret: config.github.webhookSecret, auth: config.github.token ? 'token' : 'app', logger, apiUrl: config.github.apiUrl }));
  }
  if (config.jira) {
    adapters.set('jira', createJiraAdapter(createJiraClient(config.jira, { logger }), { webhookSecret: config.jira.webhookSecret, logger, host: config.jira.host }));
  }
  for (const adapter of extra) adapters.set(adapter.name, adapter);
  return {
    available: new Set([...adapters.keys()] as ProviderName[]),
    get(name) {
      const adapter = adapters.get(name);
      if (!adapter) throw new CountersignError(503, 'provider_unavailable', `provider ${name} is not configured on this server`);
      return adapter;
    },
    identities: (name) => adapters.get(name)?.identities ?? EXACT_IDENTITIES,
  };
}
