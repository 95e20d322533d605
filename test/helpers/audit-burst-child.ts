/**
 * Child process of the SIGKILL test: appends audit records from 4 concurrent writers (and
 * signs a checkpoint now and then) until it is killed, printing how many have committed.
 * Usage: node audit-burst-child.ts '<DatabaseTarget JSON>' <dataDir>
 */
import { resolveConfig } from '../../src/config/config.ts';
import type { DatabaseTarget } from '../../src/db/open-database.ts';
import { createLogger } from '../../src/config/logger.ts';
import { startServices } from '../../src/start-services.ts';

const target = JSON.parse(process.argv[2]!) as DatabaseTarget;
const config = resolveConfig({ COUNTERSIGN_DATA_DIR: process.argv[3]! });
const services = await startServices(config, createLogger('silent'), { workers: false, target });
let committed = 0;
const writer = async (w: number) => {
  for (let i = 0; ; i += 1) {
    await services.db.transaction().execute((trx) => services.audit.append(trx, { event: 'approval.requested', approvalId: `apr_burst_${w}_${i}`, actor: { kind: 'system', id: `writer${w}`, via: 'test' }, data: { w, i } }));
    committed += 1;
    if (committed % 50 === 0) {
      if (committed % 100 === 0) void services.audit.checkpoint();
      process.stdout.write(`committed ${committed}\n`);
    }
  }
};
await Promise.all([0, 1, 2, 3].map(writer));
