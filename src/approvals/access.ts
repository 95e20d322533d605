import type { Scope } from '../db/schema.ts';
import { forbidden, notFound } from '../primitives/errors.ts';
import type { Principal } from '../keys/api-keys.ts';

export function requireScope(principal: Principal, scope: Scope): void {
  if (!principal.scopes.has(scope)) throw forbidden(`this API key lacks the "${scope}" scope`);
}

/** A key restricted to one project sees and touches nothing of another. */
export function requireProjectAccess(principal: Principal, project: string): void {
  if (principal.project !== null && principal.project !== project) {
    throw forbidden(`this API key is restricted to project "${principal.project}"`);
  }
}

/**
 * The approval named by `approvalId` if this key may see it. One of a project the key is not
 * for answers exactly as an unknown id does (same 404, same body), so a key of another project
 * learns nothing, not even that the id exists.
 */
export function requireVisibleApproval<T extends { project: string }>(principal: Principal, approvalId: string, approval: T | undefined): T {
  if (!approval || (principal.project !== null && principal.project !== approval.project)) throw notFound(`no approval ${approvalId}`);
  return approval;
}

/**
 * Withdrawing is the requesting key's own act: another key's approval, even in a project this
 * key may use (an unrestricted key may use them all), is cancelled only by an `admin` key.
 */
export function requireOwnOrAdmin(principal: Principal, approval: { id: string; api_key_id: string }): void {
  if (approval.api_key_id !== principal.keyId && !principal.scopes.has('admin')) {
    throw forbidden(`approval ${approval.id} was requested by another API key; only that key or an admin key may cancel it`);
  }
}
