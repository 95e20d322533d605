import type Router from '@koa/router';
import Koa from 'koa';
import type { Services } from '../services.ts';
import { errorsMiddleware } from './errors-middleware.ts';
import { adminRoutes } from './routes/admin-routes.ts';
import { approvalRoutes } from './routes/approval-routes.ts';
import { auditRoutes } from './routes/audit-routes.ts';
import { mcpRoutes } from './routes/mcp-routes.ts';
import { batchRoutes } from './routes/batch-routes.ts';
import { inboxRoutes } from './routes/inbox-routes.ts';
import { openApiRoutes } from './routes/openapi-routes.ts';
import { operationsRoutes } from './routes/operations-routes.ts';
import { providerWebhookRoutes } from './routes/provider-webhook-routes.ts';
import { slackRoutes } from './routes/slack-routes.ts';

/** The HTTP surface: thin glue from routes to the approval operations. */
export function createApp(services: Services): Koa {
  const app = new Koa();
  // Behind TRUSTED_PROXIES proxies, ctx.ip is the address the outermost one saw (Koa counts from the right).
  app.proxy = services.config.trustedProxies > 0;
  app.maxIpsCount = services.config.trustedProxies;
  app.use(async (ctx, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const route = (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      services.metrics.observeHttp(route, ctx.method, ctx.status, (performance.now() - started) / 1000);
    }
  });
  app.use(errorsMiddleware(services.logger));
  // The web inbox's pages: not API routes (createRouters lists those for the OpenAPI document),
  // and first, so a browser opening a local ticket's /v1 URL is sent to its page.
  const pages = inboxRoutes(services);
  app.use(pages.routes());
  app.use(pages.allowedMethods());
  for (const router of createRouters(services)) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  return app;
}

/** Every router the app mounts; the OpenAPI test holds `GET /openapi.json` to this list. */
export function createRouters(services: Services): Router[] {
  return [operationsRoutes(services), openApiRoutes(services), approvalRoutes(services), adminRoutes(services), batchRoutes(services), providerWebhookRoutes(services), slackRoutes(services), auditRoutes(services), mcpRoutes(services)];
}
