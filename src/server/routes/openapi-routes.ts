import Router from '@koa/router';
import { packageVersion } from '../../primitives/package-version.ts';
import type { Services } from '../../services.ts';
import { buildOpenApiDocument } from '../openapi.ts';
import { webhookProviders } from './provider-webhook-routes.ts';

const SLACK_WEBHOOKS = [
  { name: 'slack/interactions', summary: 'Slack interactivity (buttons, the reason modal): form-encoded payload=, verified by X-Slack-Signature over the raw body (±5 min)' },
  { name: 'slack/events', summary: 'Slack Events API (url_verification, thread replies and channel commands): JSON, verified by X-Slack-Signature over the raw body (±5 min)' },
];

/** `GET /openapi.json`, public like the public key: an agent's tooling reads it before it has a key. */
export function openApiRoutes(services: Pick<Services, 'providers' | 'slack'>): Router {
  const router = new Router();
  let document: Record<string, unknown> | undefined;
  router.get('/openapi.json', (ctx) => {
    // Built on first request: generating the schemas costs start-up nothing.
    document ??= buildOpenApiDocument(packageVersion(), [
      ...webhookProviders(services.providers).map((name) => ({ name, summary: services.providers.get(name).webhooks!.summary })),
      // Slack's two request URLs (slack-routes.ts), when Slack is on.
      ...(services.slack ? SLACK_WEBHOOKS : []),
    ]);
    ctx.body = document;
  });
  return router;
}
