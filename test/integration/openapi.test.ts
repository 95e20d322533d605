import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRouters } from '../../src/server/create-app.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

interface OpenApiDocument {
  [field: string]: unknown;
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, object> };
}

/** `GET /v1/approvals/{id}` for every method and path the Koa routers mount (HEAD comes with GET). */
function mountedRoutes(routers: ReturnType<typeof createRouters>): string[] {
  return routers
    .flatMap((router) => router.stack)
    .flatMap((layer) => layer.methods.filter((method) => method !== 'HEAD').map((method) => `${method} ${openApiPath(String(layer.path))}`))
    .sort();
}

/** Mounted, but described elsewhere: `POST /mcp` speaks MCP, whose tools describe themselves (`tools/list`). */
const OUTSIDE_THE_DOCUMENT = ['POST /mcp'];

const openApiPath = (koaPath: string) => (koaPath.replace(/:(\w+)/g, '{$1}').replace(/(.)\/$/, '$1'));

describe('GET /openapi.json', () => {
  let server: TestServer;
  let document: OpenApiDocument;

  beforeAll(async () => {
    // The document does not depend on the database: the embedded one is enough.
    server = await startTestServer({ name: 'pglite', create: async () => ({ target: { kind: 'pglite', dataDir: 'memory' }, dispose: async () => undefined }) });
    const response = await server.fetch('/openapi.json');
    expect(response.status).toBe(200);
    document = (await response.json()) as OpenApiDocument;
  });
  afterAll(() => server?.close());

  it('is a valid OpenAPI 3.1 document, served without a key', async () => {
    expect(document.openapi).toMatch(/^3\.1\./);
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('describes exactly the routes the server mounts', () => {
    const described = Object.entries(document.paths)
      .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
      .sort();
    const mounted = mountedRoutes(createRouters(server.services));
    expect(mounted).toEqual(expect.arrayContaining(OUTSIDE_THE_DOCUMENT));
    expect(described).toEqual(mounted.filter((route) => !OUTSIDE_THE_DOCUMENT.includes(route)));
  });

  it('takes its request bodies from the schemas that validate them', async () => {
    const ajv = new Ajv2020({ strict: false, validateFormats: false });
    const intake = ajv.compile(document.components.schemas.ApprovalRequest!);
    expect(intake({ project: 'billing-bot', action: 'send_email', summary: 'Send it', payload: { to: 'ops@acme.example' }, risk: 'low' })).toBe(true);
    // The same refusals as the server: a misspelt field, a risk out of range, a missing summary.
    expect(intake({ project: 'billing-bot', action: 'send_email', summary: 'Send it', callbackURL: 'http://x' })).toBe(false);
    expect(intake({ project: 'billing-bot', action: 'send_email', summary: 'Send it', risk: 'extreme' })).toBe(false);
    expect(intake({ project: 'billing-bot', action: 'send_email' })).toBe(false);

    // And the answers: a real approval from the API matches the document's Approval.
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice'] }]);
    const key = await server.key({ scopes: ['intake', 'read'] });
    const created = await server.fetch('/v1/approvals', { key, json: { project: 'billing-bot', action: 'send_email', summary: 'Send it' } });
    const { id } = (await created.json()) as { id: string };
    const approval = ajv.compile(document.components.schemas.Approval!);
    const read = await (await server.fetch(`/v1/approvals/${id}`, { key })).json();
    expect(approval(read), JSON.stringify(approval.errors)).toBe(true);
  });
});
