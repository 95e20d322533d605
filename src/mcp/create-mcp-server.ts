import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { z } from 'zod';
import { approvalSchema } from '../contract/approval-schema.ts';
import { packageVersion } from '../primitives/package-version.ts';
import { parseRequestBody } from '../primitives/validation.ts';
import { unprocessable } from '../primitives/errors.ts';
import type { ApprovalOperations } from './approval-operations.ts';
import { decideToolUse } from './approve-tool-use.ts';
import { approvalResult, errorResult } from './tool-results.ts';
import { advertisedSchema, approveToolUseArgs, cancelApprovalArgs, getDecisionArgs, MAX_TOOL_WAIT_SECONDS, requestApprovalArgs } from './tool-schemas.ts';

export interface McpServerOptions {
  /** The project `request_approval` and `approve_tool_use` use when the call names none. */
  defaultProject?: string | undefined;
  /** How long `approve_tool_use` waits for a reviewer before it denies (default 50 s). */
  permissionWaitSeconds?: number | undefined;
  /** A failure that is not a refusal by the API (a bug, an outage): for the log; the caller sees only "internal". */
  onUnexpectedError?: (error: unknown) => void;
}

export const DEFAULT_PERMISSION_WAIT_SECONDS = MAX_TOOL_WAIT_SECONDS;

// Built once: `POST /mcp` makes a server per request, and converting to JSON Schema is not free.
const ADVERTISED = {
  requestApproval: advertisedSchema(requestApprovalArgs),
  getDecision: advertisedSchema(getDecisionArgs),
  cancelApproval: advertisedSchema(cancelApprovalArgs),
  approveToolUse: advertisedSchema(approveToolUseArgs),
};

/** Seconds to ask again after, in `get_decision`'s "still pending" note: at once after a long poll, soon after a quick look. */
const retryAfterSeconds = (waited: number) => (waited > 0 ? 1 : 5);

/**
 * Countersign's MCP tools, one definition for both transports: `request_approval`,
 * `get_decision`, `cancel_approval` and Claude Code's permission tool `approve_tool_use`.
 * Whatever the transport, `operations` is the HTTP API's behaviour (its scopes, its
 * validation, its errors): over stdio it is the API, over `POST /mcp` its own functions.
 */
export function createMcpServer(operations: ApprovalOperations, options: McpServerOptions = {}): McpServer {
  const server = new McpServer({ name: 'countersign', version: packageVersion() }, { capabilities: { tools: {} } });
  const onUnexpected = options.onUnexpectedError ?? (() => undefined);
  const permissionWait = options.permissionWaitSeconds ?? DEFAULT_PERMISSION_WAIT_SECONDS;

  /** Runs a tool on its arguments parsed by the API's own validator; any refusal becomes a tool error. */
  const tool = <S extends z.ZodType>(schema: S, run: (args: z.output<S>, signal: AbortSignal) => Promise<CallToolResult>) =>
    async (args: Record<string, unknown>, extra: { signal: AbortSignal }): Promise<CallToolResult> => {
      try {
        return await run(parseRequestBody(schema, args), extra.signal);
      } catch (error) {
        return errorResult(error, onUnexpected);
      }
    };

  server.registerTool(
    'request_approval',
    {
      title: 'Ask people to approve an action',
      description:
        'Files a request for human sign-off and answers at once with its id, status and payloadHash. The action is NOT approved yet: call get_decision with the id until the status is no longer "pending", and act only on "approved".',
      inputSchema: ADVERTISED.requestApproval,
      outputSchema: approvalSchema,
    },
    tool(requestApprovalArgs, async ({ idempotencyKey, project, ...request }) => {
      const chosen = project ?? options.defaultProject;
      if (!chosen) throw unprocessable('invalid_request', 'project: required (or set COUNTERSIGN_PROJECT for the MCP server)');
      return approvalResult(await operations.request({ project: chosen, ...request }, idempotencyKey));
    }),
  );

  server.registerTool(
    'get_decision',
    {
      title: 'Read an approval, waiting for its decision',
      description: `Answers the approval. With waitSeconds (at most ${MAX_TOOL_WAIT_SECONDS}) it holds until a decision or the time is up. While the status is "pending" nothing is approved: ask again later. Only status "approved" means go ahead; rejected, expired and cancelled mean do not.`,
      inputSchema: ADVERTISED.getDecision,
      outputSchema: approvalSchema,
      annotations: { readOnlyHint: true },
    },
    tool(getDecisionArgs, async ({ id, waitSeconds = 0 }, signal) => {
      const approval = await operations.get(id, waitSeconds, signal);
      if (approval.status !== 'pending') return approvalResult(approval);
      const again = retryAfterSeconds(waitSeconds);
      return approvalResult(approval, `Still pending: NOT approved yet. Ask again in ${again} s (get_decision with waitSeconds up to ${MAX_TOOL_WAIT_SECONDS}); do not act until the status is "approved".`);
    }),
  );

  server.registerTool(
    'cancel_approval',
    {
      title: 'Withdraw a pending approval request',
      description: 'Withdraws a request that is still pending (only the key that asked, or an admin key); its ticket says so.',
      inputSchema: ADVERTISED.cancelApproval,
      outputSchema: approvalSchema,
      annotations: { destructiveHint: false, idempotentHint: false },
    },
    tool(cancelApprovalArgs, async ({ id }) => approvalResult(await operations.cancel(id))),
  );

  server.registerTool(
    'approve_tool_use',
    {
      title: 'Claude Code permission prompt',
      description:
        'For claude --permission-prompt-tool mcp__countersign__approve_tool_use: asks Countersign\'s reviewers whether a tool may be used, waits for them, and answers Claude Code\'s allow / deny JSON. No decision in time is a deny.',
      inputSchema: ADVERTISED.approveToolUse,
    },
    async (args: Record<string, unknown>, extra: { signal: AbortSignal }): Promise<CallToolResult> => {
      try {
        const answer = await decideToolUse(operations, args, { defaultProject: options.defaultProject, waitSeconds: permissionWait, signal: extra.signal });
        return { content: [{ type: 'text', text: JSON.stringify(answer) }] };
      } catch (error) {
        onUnexpected(error);
        // Never an allow by accident: an unexpected failure is a deny, in Claude Code's format.
        return { content: [{ type: 'text', text: JSON.stringify({ behavior: 'deny', message: 'Countersign failed to answer the permission request: not approved.' }) }] };
      }
    },
  );

  return server;
}
