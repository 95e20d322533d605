import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { canonicalJson, payloadHash } from '../primitives/canonical-json.ts';
import type { CallbackEvent } from '../contract/callback-event.ts';

export class CallbackVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CallbackVerificationError';
  }
}

export interface VerifyCallbackOptions {
  /** Countersign's receipt key (PEM from `GET /v1/audit/public-key`); when given, the receipt must verify. */
  publicKey?: string | KeyObject;
  /** The payload hash the agent was given at intake; the decision must be for exactly that payload. */
  expectedPayloadHash?: string;
}

export type VerifiedCallback = CallbackEvent & { webhookId: string };

/**
 * Checks a callback before the agent acts on it: the Standard Webhooks signature with the
 * key's `whsec_…` secret and the timestamp (±5 minutes, against replays), then the
 * Ed25519 receipt and the payload hash. Pass the body exactly as received.
 *
 * @example
 * const event = verifyCallback(rawBody, req.headers, process.env.COUNTERSIGN_WEBHOOK_SECRET!, { publicKey, expectedPayloadHash });
 * if (event.data.status === 'approved') proceed();
 */
export function verifyCallback(rawBody: string | Buffer, headers: Record<string, string | string[] | undefined> | Headers, secret: string, options: VerifyCallbackOptions = {}): VerifiedCallback {
  const flat = flattenHeaders(headers);
  let event: CallbackEvent;
  try {
    event = new Webhook(secret).verify(rawBody, flat) as CallbackEvent;
  } catch (error) {
    throw new CallbackVerificationError(error instanceof WebhookVerificationError ? `signature check failed: ${error.message}` : `invalid callback: ${(error as Error).message}`);
  }
  if (event?.type !== 'approval.decided' || typeof event.data !== 'object' || event.data === null) throw new CallbackVerificationError('not an approval.decided event');

  // Approved with changes: the decision is for an edit of the agent's payload (its hash is
  // originalPayloadHash), and the payload carried must be exactly the one whose hash is signed.
  const sentHash = event.data.originalPayloadHash ?? event.data.payloadHash;
  if (options.expectedPayloadHash !== undefined && sentHash !== options.expectedPayloadHash) {
    throw new CallbackVerificationError(`decision is for payload ${sentHash}, not ${options.expectedPayloadHash}`);
  }
  if (event.data.payload !== undefined && payloadHash(event.data.payload) !== event.data.payloadHash) {
    throw new CallbackVerificationError(`the edited payload carried does not hash to the signed payloadHash ${event.data.payloadHash}`);
  }
  if (options.publicKey !== undefined) {
    const { receipt, payload: _payload, ...unsigned } = event.data;
    const key = typeof options.publicKey === 'string' ? createPublicKey(options.publicKey) : options.publicKey;
    let valid: boolean;
    try {
      valid = verifySignature(null, Buffer.from(canonicalJson(unsigned)), key, Buffer.from(receipt?.signature ?? '', 'base64'));
    } catch {
      valid = false;
    }
    if (!valid) throw new CallbackVerificationError('receipt signature does not verify with the given public key');
  }
  return { ...event, webhookId: flat['webhook-id']! };
}

function flattenHeaders(headers: Record<string, string | string[] | undefined> | Headers): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = headers instanceof Headers ? [...headers.entries()] : Object.entries(headers);
  for (const [name, value] of entries) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  return out;
}
