import fastJsonPatch from 'fast-json-patch';
import type { ApprovalRow, JsonPatchOperation } from '../db/schema.ts';
import { payloadHash } from '../primitives/canonical-json.ts';
import { CountersignError } from '../primitives/errors.ts';
import { parseStrictJson } from '../primitives/parse-strict-json.ts';
import { findJsonValueProblem } from '../primitives/json-value-problem.ts';
import { payloadSchemaErrors } from '../primitives/json-schema.ts';
import { formatPath } from '../primitives/validation.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';

/** What a reviewer's edit of the payload comes to, before any vote is recorded. */
export type PayloadEdit =
  /** The edit is the payload as it stands (byte for byte, canonically): a plain approval. */
  | { kind: 'unchanged' }
  | { kind: 'refused'; reason: string; errors?: string[] }
  | { kind: 'edited'; payload: unknown; payloadHash: string; originalPayload: unknown; originalPayloadHash: string };

/**
 * Checks an edited payload against the project and the request: edits must be allowed
 * (`allowEdits`), the request must have carried a payload, the edit must be a value the service
 * can store and hash exactly, and it must satisfy the request's or the mapping's `payloadSchema`.
 */
export function checkPayloadEdit(project: ProjectMapping, approval: ApprovalRow, edited: unknown, outcome: 'approve' | 'reject'): PayloadEdit {
  if (outcome !== 'approve') return { kind: 'refused', reason: 'only an approval can carry an edited payload; a rejection needs no changes' };
  if (project.allowEdits !== true) return { kind: 'refused', reason: `project ${project.key} does not allow approving with changes (allowEdits is off)` };
  if (approval.payload === null && approval.original_payload_hash === null) return { kind: 'refused', reason: 'this request carried no payload to edit' };
  const problem = findJsonValueProblem(edited);
  if (problem) return { kind: 'refused', reason: `the edited payload cannot be stored exactly: ${formatPath(['payload', ...problem.path])}: ${problem.message}` };
  const hash = payloadHash(edited);
  if (hash === approval.payload_hash) return { kind: 'unchanged' };
  const schema = approval.payload_schema ?? project.payloadSchema;
  if (schema !== undefined && schema !== null) {
    const errors = payloadSchemaErrors(schema, edited);
    if (errors.length > 0) return { kind: 'refused', reason: `the edited payload does not match the payload schema: ${errors.join('; ')}`, errors };
  }
  const originalPayload = approval.original_payload_hash === null ? approval.payload : approval.original_payload;
  return { kind: 'edited', payload: edited, payloadHash: hash, originalPayload, originalPayloadHash: approval.original_payload_hash ?? approval.payload_hash };
}

/** A payload a reviewer typed (a ticket's payload block, the web inbox's editor), read against the payload shown. */
export type TypedPayload = { kind: 'unchanged' } | { kind: 'edited'; payload: unknown } | { kind: 'invalid'; reason: string };

/**
 * Reads a reviewer's JSON text: `unchanged` when it is the payload whose hash is `shownHash`
 * (however spelt: Countersign's own rendering is no edit), `invalid` when it is not strict JSON.
 */
export function readTypedPayload(text: string, shownHash: string): TypedPayload {
  let payload: unknown;
  try {
    payload = parseStrictJson(text);
  } catch (error) {
    return { kind: 'invalid', reason: error instanceof CountersignError ? error.message : 'not valid JSON' };
  }
  return payloadHash(payload) === shownHash ? { kind: 'unchanged' } : { kind: 'edited', payload };
}

/** The RFC 6902 patch from the payload the agent sent to the one approved: what the reviewer changed. */
export function payloadPatch(original: unknown, edited: unknown): JsonPatchOperation[] {
  // compare() walks objects and arrays; a root that is neither is replaced whole.
  const container = (value: unknown) => value !== null && typeof value === 'object';
  if (!container(original) || !container(edited) || Array.isArray(original) !== Array.isArray(edited)) return [{ op: 'replace', path: '', value: edited }];
  return fastJsonPatch.compare(original as object, edited as object) as JsonPatchOperation[];
}

/** What a decision of an approval that was edited records beside the outcome: the agent's payload hash and the patch. */
export function editRecord(approval: Pick<ApprovalRow, 'original_payload' | 'original_payload_hash' | 'payload'>): { originalPayloadHash?: string; patch?: JsonPatchOperation[] } {
  if (approval.original_payload_hash === null) return {};
  return { originalPayloadHash: approval.original_payload_hash, patch: payloadPatch(approval.original_payload, approval.payload) };
}
