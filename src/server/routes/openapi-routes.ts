import Router from '@koa/router';
import { packageVersion } from '../../primitives/package-version.ts';
import { buildOpenApiDocument } from '../openapi.ts';

/** `GET /openapi.json`, public like the public key: an agent's tooling reads it before it has a key. */
export function openApiRoutes(): Router {
  const router = new Router();
  let document: Record<string, unknown> | undefined;
  router.get('/openapi.json', (ctx) => {
    // Built on first request: generating the schemas costs start-up nothing.
    document ??= buildOpenApiDocument(packageVersion());
    ctx.body = document;
  });
  return router;
}
