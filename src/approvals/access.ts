import type { Scope } from '../db/schema.ts';
import { forbidden } from '../errors.ts';
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
