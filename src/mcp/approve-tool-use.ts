import type { ApprovalView } from '../contract/approval-schema.ts';
import { IDEMPOTENCY_KEY } from '../contract/idempotency-key.ts';
import { payloadHash } from '../primitives/canonical-json.ts';
import { CountersignError } from '../primitives/errors.ts';
import { formatIssues } from '../primitives/validation.ts';
import type { ApprovalOperations } from './approval-operations.ts';
import { MAX_TOOL_WAIT_SECONDS, approveToolUseArgs } from './tool-schemas.ts';

/**
 * Claude Code's answer format for a `--permission-prompt-tool`: one text content holding this
 * JSON. `updatedInput` is required with `allow` (Claude Code runs the tool with it, so it is
 * the input the reviewer saw), `message` with `deny` (Claude Code shows it to the model).
 * https://docs.anthropic.com/en/docs/claude-code/sdk#custom-permission-prompt-tool
 */
export type PermissionAnswer = { behavior: 'allow'; updatedInput: Record<string, unknown> } | { behavior: 'deny'; message: string };

export interface ToolUseOptions {
  defaultProject?: string | undefined;
  /** How long to wait for a reviewer before denying; longer than one MCP call's limit only where the client allows it. */
  waitSeconds: number;
  signal?: AbortSignal | undefined;
}

/**
 * Asks Countersign whether Claude Code may use a tool: opens an approval (action = the tool's
 * name, payload = its input), waits for the decision up to `waitSeconds`, and allows only an
 * approval of exactly this input. Everything else is a deny whose message says why: a
 * rejection with the reviewer's reason, an expiry, a withdrawal, no decision in time (the
 * approval stays pending; a retry with the same `tool_use_id` waits on it again instead of
 * opening a second one), or a request Countersign refused.
 */
export async function decideToolUse(operations: ApprovalOperations, args: unknown, options: ToolUseOptions): Promise<PermissionAnswer> {
  const parsed = approveToolUseArgs.safeParse(args);
  if (!parsed.success) return deny(`Countersign could not read the permission request (${formatIssues(parsed.error).join('; ')}): not approved.`);
  const { tool_name: toolName, input, tool_use_id: toolUseId } = parsed.data;
  const project = parsed.data.project ?? options.defaultProject;
  if (!project) return deny('Countersign has no project to ask in: set COUNTERSIGN_PROJECT for the MCP server (or use a key restricted to one project). Not approved.');

  // Claude Code's id of this tool use: its retry is the same request, not a second one.
  const idempotencyKey = toolUseId !== undefined && IDEMPOTENCY_KEY.test(`claude-code:${toolUseId}`) ? `claude-code:${toolUseId}` : undefined;
  let approval: ApprovalView;
  try {
    approval = await operations.request({ project, action: toolName, summary: `Claude Code asks to use ${toolName}`, payload: input }, idempotencyKey);
    const requested = approval;
    const deadline = Date.now() + options.waitSeconds * 1000;
    while (approval.status === 'pending' && !options.signal?.aborted) {
      const left = Math.ceil((deadline - Date.now()) / 1000);
      if (left <= 0) break;
      approval = await operations.get(approval.id, Math.min(MAX_TOOL_WAIT_SECONDS, left), options.signal);
    }
    return answerFor(approval, requested, input, options.waitSeconds);
  } catch (error) {
    if (error instanceof CountersignError) return deny(`Countersign refused the permission request (${error.status} ${error.code}: ${error.message}): not approved.`);
    throw error;
  }
}

function answerFor(approval: ApprovalView, requested: ApprovalView, input: Record<string, unknown>, waitSeconds: number): PermissionAnswer {
  const decision = approval.decision;
  switch (approval.status) {
    case 'approved':
      // The reviewers decided on the payload whose hash intake answered, or approved it with
      // changes: then Claude Code runs the tool with the edited input (`updatedInput` is for
      // exactly that), once it is checked to be the payload whose hash was approved.
      if (approval.payloadHash === requested.payloadHash) return { behavior: 'allow', updatedInput: input };
      if (approval.originalPayloadHash === requested.payloadHash && isEditedInput(approval)) return { behavior: 'allow', updatedInput: approval.payload };
      return deny(`Countersign approval ${approval.id} is for a changed input (${approval.payloadHash}), not the one requested: not approved.`);
    case 'rejected':
      return deny(`Rejected in Countersign${decision?.by.length ? ` by ${decision.by.join(', ')}` : ''}${decision?.reason ? `: ${decision.reason}` : ''} (approval ${approval.id}).`);
    case 'expired':
      return deny(`The Countersign approval ${approval.id} expired without a decision: not approved.`);
    case 'cancelled':
      return deny(`The Countersign approval ${approval.id} was withdrawn: not approved.`);
    case 'pending':
      return deny(`No decision in Countersign within ${waitSeconds} s (approval ${approval.id} is still pending): not approved.`);
  }
}

const deny = (message: string): PermissionAnswer => ({ behavior: 'deny', message });

/** A reviewer's edit Claude Code can run: an object (a tool's input), exactly the payload whose hash was approved. */
function isEditedInput(approval: ApprovalView): approval is ApprovalView & { payload: Record<string, unknown> } {
  const { payload } = approval;
  return payload !== null && typeof payload === 'object' && !Array.isArray(payload) && payloadHash(payload) === approval.payloadHash;
}
