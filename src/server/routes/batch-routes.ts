import Router from '@koa/router';
import { requireScope } from '../../approvals/access.ts';
import { batchItems } from '../../batching/batches.ts';
import { toBatchView } from '../../batching/batch-view.ts';
import { decideLocalBatch, localBatchDecisionSchema } from '../../batching/decide-local-batch.ts';
import { forbidden, notFound } from '../../primitives/errors.ts';
import { isBatchId } from '../../primitives/ids.ts';
import type { Services } from '../../services.ts';
import { authenticate } from '../auth.ts';
import { readJsonBody } from '../read-body.ts';
import { parseRequestBody } from '../../primitives/validation.ts';

export function batchRoutes(services: Services): Router {
  const router = new Router({ prefix: '/v1/batches' });

  router.param('id', (id, ctx, next) => {
    if (!isBatchId(id)) throw notFound('no such batch: ids look like bat_ and 26 letters and digits');
    return next();
  });

  router.get('/:id', async (ctx) => {
    const principal = await authenticate(services, ctx);
    requireScope(principal, 'read');
    const batch = await services.db.selectFrom('batches').selectAll().where('id', '=', ctx.params.id!).executeTakeFirst();
    if (!batch || (principal.project !== null && principal.project !== batch.project)) throw notFound(`no batch ${ctx.params.id}`);
    ctx.body = toBatchView(batch, await batchItems(services, batch.id));
  });

  router.post('/:id/decision', async (ctx) => {
    const principal = await authenticate(services, ctx);
    requireScope(principal, 'review');
    if (!principal.reviewer) throw forbidden('this review key has no reviewer identity');
    const { outcome, reason, exclude } = parseRequestBody(localBatchDecisionSchema, await readJsonBody(ctx));
    const result = await decideLocalBatch(services, { batchId: ctx.params.id!, reviewer: principal.reviewer, outcome, reason, exclude, via: 'api', project: principal.project });
    ctx.body = result;
  });

  return router;
}
