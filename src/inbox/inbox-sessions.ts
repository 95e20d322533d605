import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { sha256Hex } from '../primitives/canonical-json.ts';
import type { InboxTables } from './inbox-tables.ts';
import { isSecret, newSecret, secretHash } from './inbox-tokens.ts';

/** A browser session lasts a working day; signing out ends it at once. */
export const SESSION_MS = 12 * 60 * 60_000;

export interface InboxSession {
  person: string;
  /** The token the form must carry: derived from the cookie's secret, so it needs no storage and a cross-site page cannot know it. */
  csrf: string;
}

/** The CSRF token of a session (or of a pre-sign-in cookie): a one-way function of its secret. */
export const csrfFor = (secret: string) => sha256Hex(`countersign-csrf:${secret}`);

const inbox = (db: Kysely<Database>) => db.withTables<InboxTables>();

/** Starts a session for `person`; returns the cookie's secret (stored only as a hash). */
export async function startSession(db: Kysely<Database>, person: string, now: Date): Promise<string> {
  const secret = newSecret();
  await inbox(db)
    .insertInto('inbox_sessions')
    .values({ token_hash: secretHash(secret), person, expires_at: new Date(now.getTime() + SESSION_MS) })
    .execute();
  // Expired rows are removed as new ones come: the table holds only live sessions and a day's leftovers.
  await inbox(db).deleteFrom('inbox_sessions').where('expires_at', '<', now).execute();
  return secret;
}

/** The live session of a cookie's secret, or undefined (missing, malformed, unknown, expired, signed out). */
export async function findSession(db: Kysely<Database>, secret: string | undefined, now: Date): Promise<InboxSession | undefined> {
  if (!isSecret(secret)) return undefined;
  const row = await inbox(db).selectFrom('inbox_sessions').select('person').where('token_hash', '=', secretHash(secret)).where('expires_at', '>', now).executeTakeFirst();
  return row && { person: row.person, csrf: csrfFor(secret) };
}

export async function endSession(db: Kysely<Database>, secret: string | undefined): Promise<void> {
  if (!isSecret(secret)) return;
  await inbox(db).deleteFrom('inbox_sessions').where('token_hash', '=', secretHash(secret)).execute();
}
