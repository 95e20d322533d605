import { z } from 'zod';
import { approvalListSchema, approvalSchema, callbackStateSchema, errorBodySchema } from '../contract/approval-schema.ts';
import { localDecisionSchema } from '../approvals/decide-local.ts';
import { intakeSchema } from '../contract/intake-schema.ts';
import { localBatchDecisionSchema } from '../batching/decide-local-batch.ts';
import { projectMappingSchema } from '../projects/mapping-schema.ts';

type JsonSchema = Record<string, unknown>;

/**
 * JSON Schema 2020-12 (OpenAPI 3.1's dialect) of a zod schema: request bodies as the
 * validator reads them (`input`: fields with defaults are optional), answers as the server
 * writes them (`output`). Refinements zod cannot express (superRefine) stay server-side.
 */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return rest;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (name: string) => ({ 'application/json': { schema: ref(name) } });
const answer = (description: string, name?: string) => ({ description, ...(name ? { content: jsonContent(name) } : {}) });
const errors = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [String(status), { $ref: '#/components/responses/Error' }]));
const idParameter = (name: string, description: string) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } });
const bearer = [{ bearer: [] }];

/**
 * The OpenAPI 3.1 description of every route the server mounts, served at `GET /openapi.json`.
 * Bodies and answers are generated from the zod schemas the routes validate with (no
 * hand-kept copy); a test holds the paths to the routers' own list.
 */
export function buildOpenApiDocument(version: string): JsonSchema {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Countersign',
      version,
      description: 'Human sign-off for AI-agent actions. Errors are {"error": {"code", "message"}}.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'an API key, csk_…, from `countersign keys create`' } },
      schemas: {
        ApprovalRequest: jsonSchema(intakeSchema, 'input'),
        Approval: jsonSchema(approvalSchema, 'output'),
        ApprovalList: jsonSchema(approvalListSchema, 'output'),
        LocalDecision: jsonSchema(localDecisionSchema, 'input'),
        LocalBatchDecision: jsonSchema(localBatchDecisionSchema, 'input'),
        CallbackState: jsonSchema(callbackStateSchema, 'output'),
        ProjectMapping: jsonSchema(projectMappingSchema, 'input'),
        Error: jsonSchema(errorBodySchema, 'output'),
      },
      responses: { Error: { description: 'an error', content: jsonContent('Error') } },
    },
    paths: {
      '/v1/approvals': {
        post: {
          summary: 'Ask for approval; answers at once, never waiting on a ticket system',
          security: bearer,
          parameters: [{ name: 'Idempotency-Key', in: 'header', required: false, schema: { type: 'string', maxLength: 255 } }],
          requestBody: { required: true, content: jsonContent('ApprovalRequest') },
          responses: { '202': answer('accepted; Location names the approval', 'Approval'), ...errors(400, 401, 403, 413, 422, 429) },
        },
        get: {
          summary: 'List approvals, newest first',
          security: bearer,
          parameters: [
            { name: 'project', in: 'query', schema: { type: 'string' } },
            { name: 'status', in: 'query', schema: (approvalSchema.shape.status.toJSONSchema() as JsonSchema) },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: { '200': answer('a page of approvals; follow nextCursor', 'ApprovalList'), ...errors(400, 401, 403) },
        },
      },
      '/v1/approvals/{id}': {
        get: {
          summary: 'One approval; with wait, a long poll until it leaves pending',
          security: bearer,
          parameters: [idParameter('id', 'apr_…'), { name: 'wait', in: 'query', schema: { type: 'integer', minimum: 0, maximum: 60 } }],
          responses: { '200': answer('the approval', 'Approval'), ...errors(400, 401, 403, 404) },
        },
      },
      '/v1/approvals/{id}/cancel': {
        post: { summary: 'Withdraw a pending request', security: bearer, parameters: [idParameter('id', 'apr_…')], responses: { '200': answer('the cancelled approval', 'Approval'), ...errors(401, 403, 404, 409) } },
      },
      '/v1/approvals/{id}/decision': {
        post: {
          summary: 'Decide on the local provider, as the review key’s reviewer',
          security: bearer,
          parameters: [idParameter('id', 'apr_…')],
          requestBody: { required: true, content: jsonContent('LocalDecision') },
          responses: { '200': answer('decided', 'Approval'), '202': answer('counted toward requiredApprovals', 'Approval'), ...errors(401, 403, 404, 409, 422) },
        },
      },
      '/v1/approvals/{id}/redeliver': {
        post: { summary: 'Send the decision callback again', security: bearer, parameters: [idParameter('id', 'apr_…')], responses: { '202': answer('queued', 'CallbackState'), ...errors(401, 403, 404, 409) } },
      },
      '/v1/batches/{id}': {
        get: { summary: 'A batch and its items', security: bearer, parameters: [idParameter('id', 'bat_…')], responses: { '200': answer('the batch'), ...errors(401, 403, 404) } },
      },
      '/v1/batches/{id}/decision': {
        post: {
          summary: 'Decide a batch on the local provider',
          security: bearer,
          parameters: [idParameter('id', 'bat_…')],
          requestBody: { required: true, content: jsonContent('LocalBatchDecision') },
          responses: { '200': answer('the decided batch'), ...errors(401, 403, 404, 409, 422) },
        },
      },
      '/v1/audit': {
        get: {
          summary: 'One approval’s audit records, oldest first',
          security: bearer,
          parameters: [{ name: 'approvalId', in: 'query', required: true, schema: { type: 'string' } }],
          responses: { '200': answer('the records'), ...errors(400, 401, 403, 404) },
        },
      },
      '/v1/audit/public-key': { get: { summary: 'The Ed25519 keys that sign audit records and receipts', responses: { '200': answer('the keys') } } },
      '/v1/audit/checkpoint': {
        get: {
          summary: 'The latest signed checkpoint (C2SP text): keep it, and check the log against it later with audit verify --checkpoint',
          responses: { '200': { description: 'the checkpoint note', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errors(404) },
        },
      },
      '/v1/admin/projects': { get: { summary: 'Every project mapping', security: bearer, responses: { '200': answer('the projects'), ...errors(401, 403) } } },
      '/v1/admin/projects/{key}': {
        get: { summary: 'One project mapping', security: bearer, parameters: [idParameter('key', 'project key')], responses: { '200': answer('the project', 'ProjectMapping'), ...errors(401, 403, 404) } },
        put: {
          summary: 'Create or replace a project mapping',
          security: bearer,
          parameters: [idParameter('key', 'project key')],
          requestBody: { required: true, content: jsonContent('ProjectMapping') },
          responses: { '200': answer('replaced', 'ProjectMapping'), '201': answer('created', 'ProjectMapping'), ...errors(401, 403, 422) },
        },
        delete: { summary: 'Delete a project mapping without pending approvals', security: bearer, parameters: [idParameter('key', 'project key')], responses: { '204': answer('deleted'), ...errors(401, 403, 404, 409) } },
      },
      '/webhooks/github': { post: { summary: 'GitHub webhook, verified by X-Hub-Signature-256 over the raw body', responses: { '200': answer('received'), ...errors(401) } } },
      '/webhooks/jira': { post: { summary: 'Jira webhook, verified by X-Hub-Signature over the raw body', responses: { '200': answer('received'), ...errors(401) } } },
      '/healthz': { get: { summary: 'The process is up', responses: { '200': answer('up') } } },
      '/readyz': { get: { summary: 'The database and job workers are ready', responses: { '200': answer('ready'), ...errors(503) } } },
      '/metrics': { get: { summary: 'Prometheus text format', responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
      '/openapi.json': { get: { summary: 'This document', responses: { '200': answer('OpenAPI 3.1') } } },
    },
  };
}
