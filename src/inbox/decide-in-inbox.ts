import { ActivityAlreadyApplied, decideApproval, type DecisionResult } from '../approvals/decide-approval.ts';
import { decideBatch } from '../batching/decide-batch.ts';
import { unprocessable } from '../primitives/errors.ts';
import { payloadPatch, readTypedPayload, type TypedPayload } from '../approvals/payload-edit.ts';
import { grantRequestSchema, type GrantRequest } from '../contract/grant-schema.ts';
import type { JsonPatchOperation } from '../db/schema.ts';
import { requireSafeText } from '../primitives/safe-text.ts';
import type { Services } from '../services.ts';
import type { InboxPeople } from './inbox-people.ts';
import { readApprovalFor, readBatchFor } from './inbox-reads.ts';
import { peekToken, useToken } from './inbox-tokens.ts';
import type { Outcome } from './pages/approval-page.ts';

/** Who the form says decides: the session's person, or the email link's token (which names its person). */
export type DecisionProof = { kind: 'session'; person: string } | { kind: 'token'; token: string };

export interface InboxDecision {
  approvalId: string;
  outcome: 'approve' | 'reject';
  reason: string | null;
  /** The payload hash the page showed: a yes is for that payload only. */
  payloadHash: string;
  proof: DecisionProof;
  /** The payload editor's text (approve with changes), as the form sent it. */
  payload?: string | null;
  /** "And allow the same for N hours" (a standing grant). */
  grantHours?: string | null;
  /** The reviewer saw the change and confirmed it (the second step of approving with changes). */
  confirmed?: boolean;
}

/** An approval with changes waiting for the reviewer to see the difference and confirm it. */
export interface PendingEdit {
  payload: unknown;
  patch: JsonPatchOperation[];
}

/** The longest reason kept, as the API's decision schema allows. */
const MAX_REASON = 2000;

/**
 * A decision from the web form, through the one decision engine as the signed-in person
 * (`namespace: 'person'`, `via: 'inbox'`): M-of-N, one vote per person across channels and the
 * requester rule are the engine's. An email token is used up in the decision's own transaction
 * (it commits with the vote, or not at all) and only if it is bound to this approval and its
 * current payload hash. Returns what the page says; throws 404 for what the person may not see.
 */
export async function decideInInbox(services: Services, people: InboxPeople, decision: InboxDecision): Promise<{ person: string; outcome: Outcome } | { person: string; confirm: PendingEdit }> {
  const reason = checkReason(decision.outcome, decision.reason);
  const grant = grantOf(decision.grantHours);
  const now = services.now();
  const link = decision.proof.kind === 'token' ? await peekToken(services.db, 'approval', decision.proof.token, now) : undefined;
  const person = decision.proof.kind === 'session' ? decision.proof.person : link?.person;
  if (person === undefined || (link && link.approvalId !== decision.approvalId)) {
    return { person: '', outcome: { kind: 'refused', text: 'This link has expired or was used already. Sign in to decide, or ask for a new link.' } };
  }
  const { approval } = await readApprovalFor(services, people, person, decision.approvalId);
  if (approval.payload_hash !== decision.payloadHash || (link && link.payloadHash !== approval.payload_hash)) {
    return { person, outcome: { kind: 'refused', text: `The request changed since this page was made (payload ${approval.payload_hash}); nothing was decided. Read it again.` } };
  }
  const edited: TypedPayload = decision.outcome === 'approve' && typeof decision.payload === 'string' ? readTypedPayload(decision.payload, approval.payload_hash) : { kind: 'unchanged' };
  if (edited.kind === 'invalid') return { person, outcome: { kind: 'refused', text: `The edited payload is not valid JSON (${edited.reason}); nothing was decided.` } };
  // No script: the change is shown on a page of its own and counts only once confirmed there.
  if (edited.kind === 'edited' && !decision.confirmed) return { person, confirm: { payload: edited.payload, patch: payloadPatch(approval.payload, edited.payload) } };
  const token = decision.proof.kind === 'token' ? decision.proof.token : undefined;
  try {
    const result = await decideApproval(
      services,
      {
        approvalId: approval.id,
        reviewer: person,
        namespace: 'person',
        outcome: decision.outcome,
        reason,
        via: 'inbox',
        ...(edited.kind === 'edited' ? { edit: { payload: edited.payload } } : {}),
        ...(grant && decision.outcome === 'approve' ? { grant } : {}),
      },
      token ? { claim: async (trx) => (await useToken(trx, 'approval', token, services.now(), { approvalId: approval.id, payloadHash: approval.payload_hash })) !== undefined } : {},
    );
    return { person, outcome: describe(result) };
  } catch (error) {
    if (error instanceof ActivityAlreadyApplied) return { person, outcome: { kind: 'refused', text: 'This link was used already (or has just expired); nothing was decided. Sign in to decide.' } };
    throw error;
  }
}

/** A batch from its page: ticked items approved, unticked ones rejected with the reason (decideBatch's `exclude`). */
export async function decideBatchInInbox(services: Services, people: InboxPeople, request: { batchId: string; person: string; outcome: 'approve' | 'reject'; reason: string | null; include: string[] }): Promise<Outcome> {
  const reason = checkReason(request.outcome === 'reject' || request.include.length === 0 ? 'reject' : 'approve', request.reason);
  const { batch, items } = await readBatchFor(services, people, request.person, request.batchId);
  const included = new Set(request.include);
  const stranger = request.include.find((id) => !items.some((item) => item.id === id));
  if (stranger) throw unprocessable('not_in_batch', 'a ticked item is not in this batch');
  const exclude = request.outcome === 'approve' ? items.filter((item) => item.status === 'pending' && !included.has(item.id)).map((item) => ({ approvalId: item.id, reason: reason ?? 'unticked in the web inbox' })) : [];
  const result = await decideBatch(services, { batchId: batch.id, reviewer: request.person, namespace: 'person', outcome: request.outcome, reason, via: 'inbox', exclude });
  const counts = result.items.reduce<Record<string, number>>((acc, item) => ({ ...acc, [item.result]: (acc[item.result] ?? 0) + 1 }), {});
  const text = Object.entries(counts).map(([kind, n]) => `${n} ${kind}`).join(', ') || 'nothing was pending';
  return { kind: counts.refused && Object.keys(counts).length === 1 ? 'refused' : 'decided', text: `Batch ${batch.id}: ${text}.` };
}

/** The grant select's value: empty for none; anything else must be a number of hours the engine then checks against the project. */
function grantOf(hours: string | null | undefined): GrantRequest | undefined {
  if (hours === null || hours === undefined || hours === '') return undefined;
  const parsed = grantRequestSchema.safeParse({ hours: Number(hours) });
  if (!parsed.success) throw unprocessable('invalid_request', 'grantHours: expected a number of hours');
  return parsed.data;
}

function checkReason(outcome: 'approve' | 'reject', reason: string | null): string | null {
  const text = reason?.trim() ?? '';
  if (text.length > MAX_REASON) throw unprocessable('invalid_request', `reason: at most ${MAX_REASON} characters`);
  requireSafeText('reason', text, { singleLine: false });
  if (outcome === 'reject' && text === '') throw unprocessable('reason_required', 'give a reason to reject: the agent is told why');
  return text === '' ? null : text;
}

/** The engine's answer, as the page says it: a refusal carries the engine's own reason. */
function describe(result: DecisionResult): Outcome {
  switch (result.result) {
    case 'decided':
      return { kind: 'decided', text: `${result.approval.status === 'approved' ? 'Approved' : 'Rejected'}: the decision is final and the agent is told.` };
    case 'counted':
      return { kind: 'counted', text: `Your approval counted: ${result.approvals} of ${result.required}. It stays pending until enough reviewers approve.` };
    case 'refused':
      return { kind: 'refused', text: `Refused (${result.code}): ${result.reason}. Nothing was decided.` };
    case 'late':
      return { kind: 'refused', text: `Already ${result.approval.status}: decisions are final, your vote was not counted.` };
  }
}
