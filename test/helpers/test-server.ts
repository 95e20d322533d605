import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../../src/config/config.ts';
import { createApiKey, type NewKeyRequest } from '../../src/keys/api-keys.ts';
import { createLogger } from '../../src/config/logger.ts';
import { applyProjects } from '../../src/projects/project-store.ts';
import { mappingFileSchema } from '../../src/projects/mapping-schema.ts';
import { runServer } from '../../src/server/run-server.ts';
import { startServices, type RunningServices, type StartOptions } from '../../src/start-services.ts';
import type { TestDatabase } from './databases.ts';

export interface TestServer {
  readonly url: string;
  readonly services: RunningServices;
  /** Creates an API key and returns its secret. */
  key(request: Partial<NewKeyRequest> & Pick<NewKeyRequest, 'scopes'>): Promise<string>;
  /** Applies projects (and a people directory) given as they would appear in a mapping file. */
  projects(projects: unknown[], people?: unknown[]): Promise<void>;
  /** fetch against the server with an optional bearer key. */
  fetch(pathname: string, init?: RequestInit & { key?: string; json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

/** A real server on a free port, over a fresh test database. */
export async function startTestServer(database: TestDatabase, options: Partial<StartOptions> & { env?: Record<string, string> } = {}): Promise<TestServer> {
  const { target, dispose } = await database.create();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-test-'));
  const config = resolveConfig({ PORT: '0', COUNTERSIGN_DATA_DIR: dataDir, ...options.env });
  const logger = createLogger((process.env.TEST_LOG_LEVEL as 'debug' | undefined) ?? 'silent');
  const services = await startServices(config, logger, { workers: true, pollingIntervalSeconds: 0.5, ...options, target });
  const server = await runServer(services);

  return {
    url: server.url,
    services,
    async key(request) {
      const created = await createApiKey(services, { name: 'test', ...request });
      return created.key;
    },
    async projects(projects, people) {
      const file = mappingFileSchema.parse({ projects, ...(people ? { people } : {}) });
      await applyProjects(services, file.projects, undefined, file.people);
    },
    fetch(pathname, init = {}) {
      const { key, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key) headers.set('authorization', `Bearer ${key}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${server.url}${pathname}`, { ...rest, headers, ...(json !== undefined ? { body: JSON.stringify(json), method: rest.method ?? 'POST' } : {}) });
    },
    async close() {
      await server.close();
      await dispose();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
