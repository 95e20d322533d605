import { randomBytes } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/schema.ts';
import { sha256Hex } from '../primitives/canonical-json.ts';
import type { InboxTables } from './inbox-tables.ts';

/** How long a sign-in link or an email's approval link works (issue 15: 15 minutes for sign-in). */
export const SIGN_IN_LINK_MS = 15 * 60_000;
/** An email's approval link: long enough to read the mail later that day, and still single-use. */
export const APPROVAL_LINK_MS = 24 * 60 * 60_000;

/** 256 random bits, URL-safe: the secret a link or a cookie carries. Only its hash is stored. */
export const newSecret = () => randomBytes(32).toString('base64url');
export const secretHash = (secret: string) => sha256Hex(`countersign-inbox:${secret}`);

/** What a secret looks like: anything else is refused before any query. */
const SECRET = /^[A-Za-z0-9_-]{43}$/;
export const isSecret = (text: unknown): text is string => typeof text === 'string' && SECRET.test(text);

type Db = Kysely<Database> | Transaction<Database>;
const inbox = (db: Db) => db.withTables<InboxTables>();

/** A one-time sign-in link's token for `person`, valid 15 minutes. */
export async function mintSignInToken(db: Db, person: string, now: Date): Promise<string> {
  const token = newSecret();
  await inbox(db)
    .insertInto('inbox_tokens')
    .values({ token_hash: secretHash(token), purpose: 'sign-in', person, expires_at: new Date(now.getTime() + SIGN_IN_LINK_MS) })
    .execute();
  return token;
}

/**
 * An email's link token: it lets `person` decide `approvalId` once, and only while the approval's
 * payload still hashes to `payloadHash`, so a forwarded or old link cannot approve a changed request.
 */
export async function mintApprovalToken(db: Db, binding: { person: string; approvalId: string; payloadHash: string }, now: Date): Promise<string> {
  const token = newSecret();
  await inbox(db)
    .insertInto('inbox_tokens')
    .values({
      token_hash: secretHash(token),
      purpose: 'approval',
      person: binding.person,
      approval_id: binding.approvalId,
      payload_hash: binding.payloadHash,
      expires_at: new Date(now.getTime() + APPROVAL_LINK_MS),
    })
    .execute();
  return token;
}

export interface TokenGrant {
  person: string;
  approvalId: string | null;
  payloadHash: string | null;
}

/** The unused, unexpired token's grant, without using it (what a GET may do). */
export async function peekToken(db: Db, purpose: 'sign-in' | 'approval', token: string, now: Date): Promise<TokenGrant | undefined> {
  if (!isSecret(token)) return undefined;
  const row = await inbox(db)
    .selectFrom('inbox_tokens')
    .select(['person', 'approval_id', 'payload_hash'])
    .where('token_hash', '=', secretHash(token))
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return row && { person: row.person, approvalId: row.approval_id, payloadHash: row.payload_hash };
}

/**
 * Uses the token (when `bound`, only a token bound to that approval and payload hash): one statement, so of two requests racing with the same token exactly one
 * gets its grant. Inside a decision's transaction the use commits with the vote or not at all.
 */
export async function useToken(db: Db, purpose: 'sign-in' | 'approval', token: string, now: Date, bound?: { approvalId: string; payloadHash: string }): Promise<TokenGrant | undefined> {
  if (!isSecret(token)) return undefined;
  let update = inbox(db)
    .updateTable('inbox_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', secretHash(token))
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now);
  // A link for another approval, or for this one before its payload changed, is not used up by trying it here.
  if (bound) update = update.where('approval_id', '=', bound.approvalId).where('payload_hash', '=', bound.payloadHash);
  const row = await update
    .returning(['person', 'approval_id', 'payload_hash'])
    .executeTakeFirst();
  return row && { person: row.person, approvalId: row.approval_id, payloadHash: row.payload_hash };
}
