/**
 * Extracts the few GitHub REST operations Countersign calls from `@octokit/openapi` into
 * test/fixtures/github-openapi-subset.json, which the fake GitHub server validates requests against.
 *
 * `@octokit/openapi` is ~400 MB unpacked, so it is not a dependency. To refresh the fixture:
 *
 *   cd /tmp && npm pack @octokit/openapi && tar xzf octokit-openapi-*.tgz \
 *     package/package.json package/generated/api.github.com.deref.json
 *   node scripts/extract-github-openapi.ts /tmp/package
 *
 * `nullable: true` (OpenAPI 3.0) is rewritten to `anyOf [..., {type: null}]` so Ajv checks it
 * like GitHub does (Ajv's own `nullable` needs a sibling `type`, which GitHub's `oneOf`s lack).
 */
import fs from 'node:fs';
import path from 'node:path';

const OPERATIONS = [
  'users/get-authenticated',
  'apps/get-authenticated',
  'issues/create',
  'issues/get',
  'issues/update',
  'issues/list-for-repo',
  'issues/create-comment',
  'issues/list-comments',
  'issues/list-events',
  'issues/remove-label',
  // Escalation (src/escalation) adds the next tier's reviewers and an `escalated:N` label.
  'issues/add-labels',
  'issues/add-assignees',
] as const;

type Schema = { [key: string]: unknown };

function normalize(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(normalize);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'nullable' || key === 'example' || key === 'examples' || key === 'description') continue;
    out[key] = normalize(value);
  }
  return (schema as Schema).nullable === true ? { anyOf: [out, { type: 'null' }] } : out;
}

const packageDir = process.argv[2];
if (!packageDir) {
  console.error('usage: node scripts/extract-github-openapi.ts /path/to/unpacked/@octokit/openapi/package');
  process.exit(2);
}
const pkg = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { name: string; version: string };
const file = 'generated/api.github.com.deref.json';
const spec = JSON.parse(fs.readFileSync(path.join(packageDir, file), 'utf8')) as {
  info: { version: string };
  paths: Record<string, Record<string, { operationId?: string; parameters?: { name: string; in: string; required?: boolean }[]; requestBody?: { required?: boolean; content: Record<string, { schema: unknown }> } }>>;
};

const operations: Record<string, unknown> = {};
for (const [route, methods] of Object.entries(spec.paths)) {
  for (const [method, operation] of Object.entries(methods)) {
    const id = operation.operationId;
    if (!id || !(OPERATIONS as readonly string[]).includes(id)) continue;
    const body = operation.requestBody?.content['application/json'];
    operations[id] = {
      method: method.toUpperCase(),
      path: route,
      query: (operation.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
      ...(body ? { requestBody: { required: operation.requestBody?.required ?? false, schema: normalize(body.schema) } } : {}),
    };
  }
}
const missing = OPERATIONS.filter((id) => !(id in operations));
if (missing.length > 0) throw new Error(`operations not found in ${pkg.name}@${pkg.version}: ${missing.join(', ')}`);

const out = {
  source: { package: pkg.name, version: pkg.version, file, apiVersion: spec.info.version, extractedBy: 'scripts/extract-github-openapi.ts' },
  operations,
};
const target = path.resolve(import.meta.dirname, '../test/fixtures/github-openapi-subset.json');
fs.writeFileSync(target, `${JSON.stringify(out, null, 2)}\n`);
console.log(`wrote ${Object.keys(operations).length} operations from ${pkg.name}@${pkg.version} to ${path.relative(process.cwd(), target)}`);
