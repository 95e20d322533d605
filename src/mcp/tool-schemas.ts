import { z } from 'zod';
import { idempotencyKeySchema } from '../contract/idempotency-key.ts';
import { intakeSchema } from '../contract/intake-schema.ts';

/**
 * How long one tool call may hold: MCP clients commonly give up on a request after 60 s (the
 * TypeScript SDK's default request timeout), and a tool that outlives its caller answers no one.
 */
export const MAX_TOOL_WAIT_SECONDS = 50;

/**
 * `request_approval`: the intake body's own fields (the HTTP API's schema, so the same limits
 * and refusals), with `project` optional where the server knows a default (COUNTERSIGN_PROJECT,
 * or the key's project) and the Idempotency-Key as an argument.
 */
export const requestApprovalArgs = intakeSchema
  .pick({ action: true, summary: true, details: true, payload: true, risk: true, labels: true, requestedBy: true })
  .extend({
    project: intakeSchema.shape.project.optional().describe('the project key; defaults to COUNTERSIGN_PROJECT or the API key\'s project'),
    idempotencyKey: idempotencyKeySchema.optional().describe('a retry with the same key (and the same request) returns the same approval instead of opening a second one'),
  });

const approvalId = z.string().max(100).describe('the approval id, apr_…');

export const getDecisionArgs = z.strictObject({
  id: approvalId,
  waitSeconds: z.number().min(0).max(MAX_TOOL_WAIT_SECONDS).optional().describe(`hold the call up to this many seconds (at most ${MAX_TOOL_WAIT_SECONDS}) until the approval is decided`),
});

export const cancelApprovalArgs = z.strictObject({ id: approvalId });

/**
 * What Claude Code sends its `--permission-prompt-tool` (its PermissionPromptTool input:
 * `tool_name`, `input`, optional `tool_use_id`). Loose, not strict: a field a later Claude Code
 * adds must not turn every permission request into a refusal. `project` is ours, for scripted callers.
 */
export const approveToolUseArgs = z.looseObject({
  tool_name: z.string().describe('the tool Claude Code wants to use, e.g. Bash'),
  input: z.record(z.string(), z.unknown()).describe('the input it would use the tool with'),
  tool_use_id: z.string().optional().describe('the tool use\'s id; a retry with the same id waits on the same approval'),
  project: intakeSchema.shape.project.optional().describe('the project key; defaults to COUNTERSIGN_PROJECT or the API key\'s project'),
});

/**
 * What `tools/list` shows for `schema`: its JSON Schema, carried by a schema that accepts any
 * object. The SDK validates arguments against a tool's schema before the tool runs and answers a
 * bad one with its own -32602 text; the tools parse their arguments themselves instead
 * (`parseToolArgs`), so a bad argument gets the HTTP API's own error, `invalid_request` naming the field.
 */
export function advertisedSchema(schema: z.ZodType) {
  const { $schema: _dialect, ...jsonSchema } = z.toJSONSchema(schema, { io: 'input', target: 'draft-7', unrepresentable: 'any' }) as Record<string, unknown>;
  return z.looseObject({}).meta(jsonSchema);
}
