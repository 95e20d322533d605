import Router from '@koa/router';
import { createMcpServer } from '../../mcp/create-mcp-server.ts';
import { inProcessOperations } from '../../mcp/in-process-operations.ts';
import { serveStreamableHttp } from '../../mcp/serve-streamable-http.ts';
import { badRequest } from '../../primitives/errors.ts';
import { isProjectKey } from '../../projects/mapping-schema.ts';
import type { Services } from '../../services.ts';
import { authenticate } from '../auth.ts';
import { readJsonBody } from '../read-body.ts';

const MAX_PERMISSION_WAIT_SECONDS = 3600;

const single = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/**
 * `POST /mcp`: the MCP tools over Streamable HTTP (stateless), with the caller's API key. A
 * missing or unknown key is the API's 401 before any MCP; a key without a tool's scope gets
 * that tool's error, as the HTTP API answers it. The URL may carry the client's settings, as
 * `countersign mcp` takes them from its environment: `?project=KEY`, the project a call that
 * names none asks in (default: the key's own project), and `?permissionWait=SECONDS`, how long
 * `approve_tool_use` waits for a reviewer (default 50). Not part of the `/v1` OpenAPI document.
 */
export function mcpRoutes(services: Services): Router {
  const router = new Router();
  router.post('/mcp', async (ctx) => {
    const principal = await authenticate(services, ctx);
    const permissionWaitSeconds = parsePermissionWait(single(ctx.query.permissionWait));
    const project = single(ctx.query.project) || undefined;
    if (project !== undefined && !isProjectKey(project)) throw badRequest('invalid_project', 'project: expected a project key (lowercase letters, digits, ".", "_" or "-")');
    const body = await readJsonBody(ctx);
    const server = createMcpServer(inProcessOperations(services, principal), {
      defaultProject: project ?? principal.project ?? undefined,
      permissionWaitSeconds,
      onUnexpectedError: (error) => services.logger.error({ err: error, keyId: principal.keyId }, 'MCP tool failed'),
    });
    // The transport writes the response itself.
    ctx.respond = false;
    await serveStreamableHttp(server, ctx.req, ctx.res, body);
  });
  return router;
}

function parsePermissionWait(raw: string | undefined): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const seconds = Number(raw);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PERMISSION_WAIT_SECONDS) {
    throw badRequest('invalid_permission_wait', `permissionWait: expected whole seconds from 1 to ${MAX_PERMISSION_WAIT_SECONDS}`);
  }
  return seconds;
}
