import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { createApproval } from '../../src/intake/create-approval.ts';
import { resolveConfig } from '../../src/config/config.ts';
import type { DatabaseTarget } from '../../src/db/open-database.ts';
import { createApiKey, findPrincipal } from '../../src/keys/api-keys.ts';
import { createLogger } from '../../src/config/logger.ts';
import { mappingFileSchema } from '../../src/projects/mapping-schema.ts';
import { applyProjects } from '../../src/projects/project-store.ts';
import { startServices } from '../../src/start-services.ts';
import { describeEachDatabase } from '../helpers/databases.ts';

describeEachDatabase('escalation timers across a restart', (database) => {
  it('fires a tier whose time passed while the server was down', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-restart-'));
    const created = await database.create();
    // The embedded database must live on disk to survive the restart.
    const target: DatabaseTarget = created.target.kind === 'pglite' ? { kind: 'pglite', dataDir } : created.target;
    const config = resolveConfig({ COUNTERSIGN_DATA_DIR: dataDir, PORT: '0' });
    const start = () => startServices(config, createLogger('silent'), { workers: true, target, pollingIntervalSeconds: 0.5 });
    try {
      let services = await start();
      await applyProjects(services, mappingFileSchema.parse({ projects: [{ key: 'ops', provider: 'local', reviewers: ['alice'], escalation: [{ after: '2s', reviewers: ['carol'] }] }] }).projects);
      const key = await createApiKey(services, { name: 'agent', scopes: ['intake', 'read'] });
      const principal = (await findPrincipal(services.db, key.key))!;
      const { approval } = await createApproval(services, principal, { project: 'ops', action: 'a', summary: 's' });
      await services.stop();

      // Down for longer than the tier's SLA.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      services = await start();
      try {
        await expect
          .poll(async () => (await services.db.selectFrom('approvals').select('escalation_tier').where('id', '=', approval.id).executeTakeFirstOrThrow()).escalation_tier, { timeout: 8_000 })
          .toBe(1);
      } finally {
        await services.stop();
      }
    } finally {
      await created.dispose();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
