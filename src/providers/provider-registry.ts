import type { Config } from '../config.ts';
import { CountersignError } from '../errors.ts';
import type { ProviderName } from '../projects/mapping-schema.ts';
import { createLocalAdapter } from './local/local-adapter.ts';
import type { ProviderAdapter } from './provider-adapter.ts';

export interface ProviderRegistry {
  readonly available: ReadonlySet<ProviderName>;
  get(name: string): ProviderAdapter;
}

/** The providers this server can talk to, from its configuration. */
export function createProviderRegistry(_config: Config, extra: ProviderAdapter[] = []): ProviderRegistry {
  const adapters = new Map<string, ProviderAdapter>([['local', createLocalAdapter()]]);
  for (const adapter of extra) adapters.set(adapter.name, adapter);
  return {
    available: new Set([...adapters.keys()] as ProviderName[]),
    get(name) {
      const adapter = adapters.get(name);
      if (!adapter) throw new CountersignError(503, 'provider_unavailable', `provider ${name} is not configured on this server`);
      return adapter;
    },
  };
}
