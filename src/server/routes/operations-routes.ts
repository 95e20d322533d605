import Router from '@koa/router';
import { sql } from 'kysely';
import { notReady } from '../../primitives/errors.ts';
import type { Services } from '../../services.ts';

export function operationsRoutes(services: Services): Router {
  const router = new Router();

  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });

  router.get('/readyz', async (ctx) => {
    if (!services.jobs.ready) throw notReady('job workers are not running');
    try {
      await sql`select 1`.execute(services.db);
    } catch (error) {
      throw notReady(`database is not reachable: ${(error as Error).message}`);
    }
    ctx.body = { status: 'ready', database: services.database.kind };
  });

  router.get('/metrics', async (ctx) => {
    ctx.type = services.metrics.registry.contentType;
    ctx.body = await services.metrics.registry.metrics();
  });

  return router;
}
