import type { z } from 'zod';
import type { ApprovalView, decisionSchema } from './approval-schema.ts';

/**
 * The body of a decision callback, as the agent receives it (`verifyCallback` in
 * `countersign/client` returns it). Typed from the approval's wire schema, so the client
 * needs nothing of the server's tables to read it.
 */
export interface CallbackData {
  id: string;
  status: ApprovalView['status'];
  project: string;
  action: string;
  /** The payload approved: the agent's, or the reviewer's edit of it (then `payload` carries it and `originalPayloadHash` the agent's). */
  payloadHash: string;
  originalPayloadHash?: string;
  /** Only when a reviewer approved with changes: the payload to act on. Not signed itself: its hash, `payloadHash`, is. */
  payload?: unknown;
  decision: z.output<typeof decisionSchema> | null;
  receipt: { keyId: string; signature: string };
}

export interface CallbackEvent {
  type: 'approval.decided';
  timestamp: string;
  data: CallbackData;
}
