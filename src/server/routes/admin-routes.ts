import Router from '@koa/router';
import { requireScope } from '../../approvals/access.ts';
import type { AuditActor } from '../../audit/audit-record.ts';
import { applyProjects, deleteProject, findProject, listProjects, parseProjectMapping } from '../../projects/project-store.ts';
import { notFound } from '../../primitives/errors.ts';
import { isProjectKey } from '../../projects/mapping-schema.ts';
import type { Services } from '../../services.ts';
import { authenticate } from '../auth.ts';
import { readJsonBody } from '../read-body.ts';

export function adminRoutes(services: Services): Router {
  const router = new Router({ prefix: '/v1/admin' });

  router.use(async (ctx, next) => {
    const principal = await authenticate(services, ctx);
    requireScope(principal, 'admin');
    ctx.state.actor = { kind: 'admin', id: principal.keyId, via: 'api' } satisfies AuditActor;
    await next();
  });

  router.get('/projects', async (ctx) => {
    ctx.body = { projects: await listProjects(services.db) };
  });

  router.get('/projects/:key', async (ctx) => {
    if (!isProjectKey(ctx.params.key!)) throw notFound('no such project: keys are lowercase letters, digits, ".", "_" or "-"');
    const project = await findProject(services.db, ctx.params.key!);
    if (!project) throw notFound(`no project "${ctx.params.key}"`);
    ctx.body = project;
  });

  router.put('/projects/:key', async (ctx) => {
    const project = parseProjectMapping(ctx.params.key!, await readJsonBody(ctx), services.providers.available);
    const [result] = await applyProjects(services, [project], ctx.state.actor as AuditActor);
    ctx.status = result?.change === 'created' ? 201 : 200;
    ctx.body = project;
  });

  router.delete('/projects/:key', async (ctx) => {
    if (!isProjectKey(ctx.params.key!)) throw notFound('no such project: keys are lowercase letters, digits, ".", "_" or "-"');
    await deleteProject(services, ctx.params.key!, ctx.state.actor as AuditActor);
    ctx.status = 204;
  });

  return router;
}
