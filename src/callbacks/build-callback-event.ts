import { canonicalJson } from '../primitives/canonical-json.ts';
import type { Signer } from '../primitives/signing-key.ts';
import type { CallbackEvent } from '../contract/callback-event.ts';
import type { ApprovalRow } from '../db/schema.ts';

export type ReceiptSigner = Pick<Signer, 'keyId' | 'sign'>;

/**
 * The callback body for a decided approval. The receipt is an Ed25519 signature over the
 * RFC 8785 form of `data` without `receipt`: proof, checkable offline with the public key
 * at /v1/audit/public-key, that Countersign decided exactly this for exactly this payload.
 */
export function buildCallbackEvent(approval: ApprovalRow, signer: ReceiptSigner): CallbackEvent {
  const unsigned = {
    id: approval.id,
    status: approval.status,
    project: approval.project,
    action: approval.action,
    payloadHash: approval.payload_hash,
    // Approved with changes: the receipt signs both the agent's payload hash and the edited one's.
    ...(approval.original_payload_hash !== null ? { originalPayloadHash: approval.original_payload_hash } : {}),
    decision: approval.decision,
  };
  const edited = approval.original_payload_hash !== null ? { payload: approval.payload } : {};
  return {
    type: 'approval.decided',
    timestamp: (approval.decided_at ?? new Date()).toISOString(),
    data: { ...unsigned, ...edited, receipt: { keyId: signer.keyId, signature: signer.sign(canonicalJson(unsigned)).toString('base64') } },
  };
}
