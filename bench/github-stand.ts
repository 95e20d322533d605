import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolveConfig } from '../src/config/config.ts';
import type { DatabaseTarget } from '../src/db/open-database.ts';
import { createApiKey, type NewKeyRequest } from '../src/keys/api-keys.ts';
import { createLogger } from '../src/config/logger.ts';
import { mappingFileSchema } from '../src/projects/mapping-schema.ts';
import { applyProjects } from '../src/projects/project-store.ts';
import { createGitHubAdapter } from '../src/providers/github/github-adapter.ts';
import { createGitHubClient } from '../src/providers/github/github-client.ts';
import { runServer, type RunningServer } from '../src/server/run-server.ts';
import type { Services } from '../src/services.ts';
import { startServices } from '../src/start-services.ts';
import { startFakeGitHub, type FakeGitHub } from '../test/helpers/fake-github.ts';

/** A real server (in-memory PGlite, in this process) wired to the fake GitHub of the tests. */
export interface GitHubStand {
  readonly fake: FakeGitHub;
  readonly services: Services;
  readonly server: RunningServer;
  /** Headers for an agent key with these extra settings. */
  agent(request?: Partial<NewKeyRequest>): Promise<Record<string, string>>;
  /** Waits for the approval's issue to be opened; its number. */
  ticketNumber(approvalId: string, headers: Record<string, string>): Promise<number>;
  /** Labels an issue `approved` as alice and delivers GitHub's signed webhook to the server. */
  approve(issue: number): Promise<void>;
  close(): Promise<void>;
}

const SECRET = 'bench-secret';

export async function startGitHubStand(projects: (github: { owner: string; repo: string }) => unknown[], options: { target?: DatabaseTarget; polling?: number | 'default' } = {}): Promise<GitHubStand> {
  const target = options.target ?? { kind: 'pglite', dataDir: 'memory' };
  const polling = options.polling ?? 0.5;
  const fake = await startFakeGitHub({ secret: SECRET });
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-'));
  const config = resolveConfig({ PORT: '0', COUNTERSIGN_DATA_DIR: dataDir, ...fake.serverEnv });
  const logger = createLogger('silent');
  // No write pacing: the fake is local, and pacing changes time, not the number of calls.
  const adapter = createGitHubAdapter(createGitHubClient(config.github!, { logger, writeIntervalMs: 0 }), { webhookSecret: SECRET, auth: 'token', logger });
  const services = await startServices(config, logger, { workers: true, ...(polling === 'default' ? {} : { pollingIntervalSeconds: polling }), target, extraProviders: [adapter] });
  const server = await runServer(services);
  await applyProjects(services, mappingFileSchema.parse({ projects: projects({ owner: fake.owner, repo: fake.repo }) }).projects);
  return {
    fake,
    services,
    server,
    async agent(request = {}) {
      const { key } = await createApiKey(services, { name: 'bench', scopes: ['intake', 'read'], ...request });
      return { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    },
    async ticketNumber(approvalId, headers) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const { ticket } = (await (await fetch(`${server.url}/v1/approvals/${approvalId}`, { headers })).json()) as { ticket: { key: string } | null };
        if (ticket) return Number(ticket.key.split('#')[1]);
        if (Date.now() > deadline) throw new Error(`timed out waiting for the ticket of ${approvalId}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    async approve(issue) {
      const delivery = fake.label(issue, 'approved', 'alice');
      const response = await fetch(`${server.url}/webhooks/github`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': delivery.event, 'x-github-delivery': delivery.id, 'x-hub-signature-256': await fake.sign(delivery.body) },
        body: delivery.body,
      });
      if (response.status !== 202) throw new Error(`webhook refused: ${response.status}`);
    },
    async close() {
      await server.close();
      await fake.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
