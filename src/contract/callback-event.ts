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
  payloadHash: string;
  decision: z.output<typeof decisionSchema> | null;
  receipt: { keyId: string; signature: string };
}

export interface CallbackEvent {
  type: 'approval.decided';
  timestamp: string;
  data: CallbackData;
}
