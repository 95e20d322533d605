import Router from '@koa/router';
import { receiveProviderWebhook } from '../../tickets/receive-provider-webhook.ts';
import type { ProviderName } from '../../projects/mapping-schema.ts';
import type { Services } from '../../services.ts';
import { readRawBody } from '../read-body.ts';

/**
 * `POST /webhooks/github` and `POST /webhooks/jira`: the raw body goes to the provider's
 * signature check before anything parses it; the rest is the provider-generic
 * `receiveProviderWebhook`.
 */
export function providerWebhookRoutes(services: Services): Router {
  const router = new Router();
  for (const provider of ['github', 'jira'] as const satisfies readonly ProviderName[]) {
    router.post(`/webhooks/${provider}`, async (ctx) => {
      const rawBody = await readRawBody(ctx);
      const headers = Object.fromEntries(Object.entries(ctx.headers).map(([name, value]) => [name, Array.isArray(value) ? value[0] : value]));
      const answer = await receiveProviderWebhook(services, provider, rawBody, headers);
      ctx.status = answer.status;
      ctx.body = answer.body;
      // Decide after answering: GitHub wants an answer within 10 s and never retries; Jira times
      // out slow deliveries and retries them (duplicates are dropped by delivery id). Whatever
      // fails after the answer is found again by reconciliation.
      if (answer.work) setImmediate(() => void answer.work!());
    });
  }
  return router;
}
