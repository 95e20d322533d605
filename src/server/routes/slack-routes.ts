import Router from '@koa/router';
import type { Services } from '../../services.ts';
import { readRawBody } from '../read-body.ts';

/**
 * Slack's two request URLs, when Slack is on: `POST /webhooks/slack/interactions` (buttons and
 * the reason modal, form-encoded `payload=`) and `POST /webhooks/slack/events` (Events API JSON,
 * `url_verification` included). As for the other providers' webhooks, the raw body goes to the
 * signature check before anything parses it; what the request asks is stored and answered at
 * once (Slack wants an answer within 3 s and does not redeliver interactions), and a job does
 * the rest (src/providers/slack/slack-deliveries.ts).
 */
export function slackRoutes(services: Services): Router {
  const router = new Router();
  const slack = services.slack;
  if (!slack) return router;
  for (const endpoint of ['interactions', 'events'] as const) {
    router.post(`/webhooks/slack/${endpoint}`, async (ctx) => {
      const rawBody = await readRawBody(ctx);
      const headers = Object.fromEntries(Object.entries(ctx.headers).map(([name, value]) => [name, Array.isArray(value) ? value[0] : value]));
      const answer = await slack.receive(endpoint, rawBody, headers);
      ctx.status = answer.status;
      // An empty 200 is Slack's "received" (and closes a submitted modal).
      ctx.body = answer.body ?? '';
    });
  }
  return router;
}
