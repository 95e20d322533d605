import Router from '@koa/router';
import { receiveProviderWebhook } from '../../approvals/receive-provider-webhook.ts';
import type { Services } from '../../services.ts';
import { readRawBody } from '../read-body.ts';

/**
 * `POST /webhooks/jira`: the raw body goes to the `X-Hub-Signature` check before anything parses
 * it; the rest is the provider-generic `receiveProviderWebhook`, as for GitHub.
 */
export function jiraWebhookRoutes(services: Services): Router {
  const router = new Router();
  router.post('/webhooks/jira', async (ctx) => {
    const rawBody = await readRawBody(ctx);
    const headers = Object.fromEntries(Object.entries(ctx.headers).map(([name, value]) => [name, Array.isArray(value) ? value[0] : value]));
    const answer = await receiveProviderWebhook(services, 'jira', rawBody, headers);
    ctx.status = answer.status;
    ctx.body = answer.body;
    // Decide after answering: Jira times out slow deliveries and retries them (duplicates are
    // dropped by X-Atlassian-Webhook-Identifier); a failure after the answer is found again by
    // reconciliation.
    if (answer.work) setImmediate(() => void answer.work!());
  });
  return router;
}
