import Router from '@koa/router';
import { receiveProviderWebhook } from '../../approvals/receive-provider-webhook.ts';
import type { Services } from '../../services.ts';
import { readRawBody } from '../read-body.ts';

/** `POST /webhooks/github`: the raw body goes to the verification before anything parses it. */
export function githubWebhookRoutes(services: Services): Router {
  const router = new Router();
  router.post('/webhooks/github', async (ctx) => {
    const rawBody = await readRawBody(ctx);
    const headers = Object.fromEntries(Object.entries(ctx.headers).map(([name, value]) => [name, Array.isArray(value) ? value[0] : value]));
    const answer = await receiveProviderWebhook(services, 'github', rawBody, headers);
    ctx.status = answer.status;
    ctx.body = answer.body;
    // Decide after answering: GitHub wants its answer within 10 s and never retries.
    if (answer.work) setImmediate(() => void answer.work!());
  });
  return router;
}
