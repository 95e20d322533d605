/**
 * The agent's side of Countersign: ask for approval, wait for the decision, and check a
 * callback. Built on `fetch`, with no other runtime dependency than `standardwebhooks`.
 *
 * @example
 * import { createCountersignClient } from 'countersign/client';
 * const countersign = createCountersignClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: process.env.COUNTERSIGN_KEY! });
 * const { id } = await countersign.requestApproval({ project: 'billing-bot', action: 'send_email', summary: 'Send the reply', payload: draft });
 * const approval = await countersign.waitForDecision(id, { timeoutMs: 15 * 60_000 });
 * if (approval.status === 'approved') await send(draft);
 */
export { createCountersignClient, CountersignApiError, DecisionTimeoutError } from './countersign-client.ts';
export type { ApprovalRequest, Approval, CountersignClient, CountersignClientOptions } from './countersign-client.ts';
export { verifyCallback, CallbackVerificationError } from './verify-callback.ts';
export type { VerifiedCallback, VerifyCallbackOptions } from './verify-callback.ts';
