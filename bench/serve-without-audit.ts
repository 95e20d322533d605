/**
 * `countersign serve` with the audit log made a no-op, for `bench/audit-cost.bench.ts` only:
 * the shipped server has no switch to turn the audit off, and must not have one.
 */
import type { AuditLog } from '../src/audit/audit-log.ts';
import { resolveConfig } from '../src/config/config.ts';
import { createLogger } from '../src/config/logger.ts';
import { runServer } from '../src/server/run-server.ts';
import { startServices } from '../src/start-services.ts';

const config = resolveConfig(process.env);
const services = await startServices(config, createLogger(config.logLevel), { workers: true });
const noAudit: Pick<AuditLog, 'append' | 'appendWith'> = { append: async () => undefined, appendWith: (trx, _entry, write) => write(trx) };
Object.assign(services.audit, noAudit);
const server = await runServer(services);
process.once('SIGTERM', () => void server.close());
