import Router from '@koa/router';
import { requireScope } from '../../approvals/access.ts';
import { toApprovalDetailView, toApprovalView } from '../../approvals/approval-view.ts';
import { cancelApproval } from '../../approvals/cancel-approval.ts';
import { createApproval } from '../../intake/create-approval.ts';
import { decideLocal, localDecisionSchema } from '../../approvals/decide-local.ts';
import { getApproval, listApprovals, parseWaitSeconds, waitForApproval } from '../../approvals/read-approvals.ts';
import { toCallbackView } from '../../callbacks/callback-delivery.ts';
import { IDEMPOTENCY_KEY } from '../../contract/idempotency-key.ts';
import type { ApprovalRow } from '../../db/schema.ts';
import { badRequest, forbidden, notFound } from '../../primitives/errors.ts';
import { isApprovalId } from '../../primitives/ids.ts';
import type { Services } from '../../services.ts';
import { authenticate, authenticateCached, refusingRevoked } from '../auth.ts';
import { readJsonBody } from '../read-body.ts';
import { parseRequestBody } from '../../primitives/validation.ts';

const single = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** One approval with its callback's delivery state (attempts, last status, next try). */
async function approvalWithCallback(services: Services, row: ApprovalRow) {
  const delivery = row.callback_url ? await services.callbacks.find(row.id) : undefined;
  return { ...toApprovalDetailView(row), callback: delivery ? toCallbackView(delivery) : null };
}

export function approvalRoutes(services: Services): Router {
  const router = new Router();

  // A path id that is not an approval id names nothing: 404 before any query, without echoing it.
  router.param('id', (id, ctx, next) => {
    if (!isApprovalId(id)) throw notFound('no such approval: ids look like apr_ and 26 letters and digits');
    return next();
  });

  router.post('/v1/approvals', async (ctx) => {
    // Intake's key may come from the cache: createApproval's write confirms it is unrevoked.
    const principal = await authenticateCached(services, ctx);
    const { approval, replayed } = await refusingRevoked(services, principal, async () => {
      const idempotencyKey = ctx.get('idempotency-key') || undefined;
      if (idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(idempotencyKey)) {
        throw badRequest('invalid_idempotency_key', 'Idempotency-Key: expected 1 to 255 printable ASCII characters');
      }
      return createApproval(services, principal, await readJsonBody(ctx), idempotencyKey);
    });
    ctx.status = 202;
    ctx.set('Location', `/v1/approvals/${approval.id}`);
    if (replayed) ctx.set('Idempotent-Replayed', 'true');
    ctx.body = approval;
  });

  router.get('/v1/approvals', async (ctx) => {
    const principal = await authenticate(services, ctx);
    const q = ctx.query;
    const page = await listApprovals(services, principal, { project: single(q.project), status: single(q.status), limit: single(q.limit), cursor: single(q.cursor) });
    ctx.body = { items: page.items.map(toApprovalView), nextCursor: page.nextCursor };
  });

  router.get('/v1/approvals/:id', async (ctx) => {
    const principal = await authenticate(services, ctx);
    const wait = parseWaitSeconds(single(ctx.query.wait));
    if (wait === 0) {
      ctx.body = await approvalWithCallback(services, await getApproval(services, principal, ctx.params.id!));
      return;
    }
    // Release the long poll as soon as the client goes away.
    const gone = new AbortController();
    ctx.req.on('close', () => gone.abort());
    ctx.body = await approvalWithCallback(services, await waitForApproval(services, principal, ctx.params.id!, wait, gone.signal));
  });

  router.post('/v1/approvals/:id/cancel', async (ctx) => {
    const principal = await authenticate(services, ctx);
    ctx.body = toApprovalView(await cancelApproval(services, principal, ctx.params.id!));
  });

  router.post('/v1/approvals/:id/decision', async (ctx) => {
    // The key from this process's cache: the decision's row lock confirms it is unrevoked.
    const principal = await authenticateCached(services, ctx);
    const result = await refusingRevoked(services, principal, async () => {
      requireScope(principal, 'review');
      if (!principal.reviewer) throw forbidden('this review key has no reviewer identity');
      const { outcome, reason, payload, grant } = parseRequestBody(localDecisionSchema, await readJsonBody(ctx));
      return decideLocal(services, { approvalId: ctx.params.id!, reviewer: principal.reviewer, outcome, reason, via: 'api', project: principal.project, payload, grant, liveKey: principal.keyId });
    });
    ctx.status = result.result === 'decided' ? 200 : 202;
    ctx.body = {
      ...toApprovalView(result.approval),
      ...(result.result === 'counted' ? { votes: { approvals: result.approvals, required: result.required } } : {}),
    };
  });

  router.post('/v1/approvals/:id/redeliver', async (ctx) => {
    requireScope(await authenticate(services, ctx), 'admin');
    const delivery = await services.callbacks.redeliver(ctx.params.id!);
    services.callbacks.deliverSoon(ctx.params.id!);
    ctx.status = 202;
    ctx.body = toCallbackView(delivery);
  });

  return router;
}
