import type { Context } from 'koa';
import { unauthorized } from '../primitives/errors.ts';
import { findPrincipal, type Principal } from '../keys/api-keys.ts';
import type { Services } from '../services.ts';

/** The API key behind `Authorization: Bearer csk_…`, or 401. Scopes are checked by the operation. */
export async function authenticate(services: Services, ctx: Context): Promise<Principal> {
  const header = ctx.get('authorization');
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match) throw unauthorized('missing API key: send Authorization: Bearer csk_…');
  const principal = await findPrincipal(services.db, match[1]!);
  if (!principal) throw unauthorized('unknown or revoked API key');
  return principal;
}
