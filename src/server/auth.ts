import type { Context } from 'koa';
import { CountersignError, unauthorized } from '../primitives/errors.ts';
import { findPrincipal, isKeyLive, type Principal } from '../keys/api-keys.ts';
import { principalCacheFor } from '../keys/principal-cache.ts';
import type { Services } from '../services.ts';

const REVOKED = 'unknown or revoked API key';

function presentedKey(ctx: Context): string {
  const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
  if (!match) throw unauthorized('missing API key: send Authorization: Bearer csk_…');
  return match[1]!;
}

/** The API key behind `Authorization: Bearer csk_…`, or 401. Scopes are checked by the operation. */
export async function authenticate(services: Services, ctx: Context): Promise<Principal> {
  const principal = await findPrincipal(services.db, presentedKey(ctx));
  if (!principal) throw unauthorized(REVOKED);
  return principal;
}

/**
 * Intake's hot path: the key as `authenticate` finds it, from this process's cache when it was
 * seen before (principal-cache.ts). Only for an operation whose write itself confirms the key
 * is unrevoked, run through `refusingRevoked`, so a revoked key still gets a 401 at once.
 */
export async function authenticateCached(services: Services, ctx: Context): Promise<Principal> {
  const principal = await principalCacheFor(services.db).find(presentedKey(ctx));
  if (!principal) throw unauthorized(REVOKED);
  return principal;
}

/**
 * Runs `operation` for a cached principal. A key revoked since it was cached is answered 401,
 * whichever check fails first (the write's own, or an earlier 4xx such as an unknown project,
 * which a revoked key must not learn), and leaves the cache.
 */
export async function refusingRevoked<T>(services: Services, principal: Principal, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    const revoked = error instanceof CountersignError && (error.status === 401 || !(await isKeyLive(services.db, principal.keyId)));
    if (!revoked) throw error;
    principalCacheFor(services.db).forget(principal.keyId);
    throw unauthorized(REVOKED);
  }
}
