import Router from '@koa/router';
import { packageVersion } from '../../primitives/package-version.ts';
import type { Services } from '../../services.ts';
import { buildOpenApiDocument } from '../openapi.ts';
import { webhookProviders } from './provider-webhook-routes.ts';

/** `GET /openapi.json`, public like the public key: an agent's tooling reads it before it has a key. */
export function openApiRoutes(services: Pick<Services, 'providers'>): Router {
  const router = new Router();
  let document: Record<string, unknown> | undefined;
  router.get('/openapi.json', (ctx) => {
    // Built on first request: generating the schemas costs start-up nothing.
    document ??= buildOpenApiDocument(packageVersion(), webhookProviders(services.providers).map((name) => ({ name, summary: services.providers.get(name).webhooks!.summary })));
    ctx.body = document;
  });
  return router;
}
