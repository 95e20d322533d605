import { randomBytes } from 'node:crypto';
import { monotonicFactory } from 'ulid';

/**
 * ulid asks its PRNG once per character; drawing those from a pool of crypto-random bytes
 * instead of one crypto call each took 3 % of intake's CPU off. A byte / 256 is uniform over
 * ulid's 32 symbols (256 is a multiple of 32).
 */
let pool = Buffer.alloc(0);
let next = 0;
function pooledRandom(): number {
  if (next >= pool.length) {
    pool = randomBytes(4096);
    next = 0;
  }
  return pool[next++]! / 256;
}

// Monotonic: two ids made in the same millisecond still sort in the order they were made.
const ulid = monotonicFactory(pooledRandom);

/**
 * The one table of id prefixes: everything that needs to know what an id names asks
 * {@link idKind} (or the `is…Id` shape checks) instead of sniffing `apr_` / `bat_` itself.
 */
const PREFIXES = { approval: 'apr_', batch: 'bat_', key: 'key_', grant: 'grt_' } as const;

export type IdKind = keyof typeof PREFIXES;

/** Ids sort by creation time (ULID), so list pages and logs read in order. */
export const newApprovalId = () => `${PREFIXES.approval}${ulid().toLowerCase()}`;
export const newBatchId = () => `${PREFIXES.batch}${ulid().toLowerCase()}`;
export const newKeyId = () => `${PREFIXES.key}${ulid().toLowerCase()}`;
export const newGrantId = () => `${PREFIXES.grant}${ulid().toLowerCase()}`;

/**
 * What an id names, by its prefix alone (not its full shape: a ticket marker or a stored
 * `approvalId` is trusted to be one of ours); `undefined` for anything else.
 *
 * @example
 * idKind('bat_01j…') // 'batch'
 */
export function idKind(id: string): IdKind | undefined {
  for (const [kind, prefix] of Object.entries(PREFIXES) as Array<[IdKind, string]>) if (id.startsWith(prefix)) return kind;
  return undefined;
}

const LEADING_APPROVAL_ID = new RegExp(`^\\s*(${PREFIXES.approval}[0-9a-z]+)\\b[\\s:—-]*([\\s\\S]*)$`, 'i');

/**
 * An approval id at the start of `text` (`/reject apr_… reason` on a batch ticket), lower-cased,
 * and what follows it (separators `:`, `—`, `-` and spaces dropped).
 *
 * @example
 * leadingApprovalId('APR_01J… — wrong amount') // { id: 'apr_01j…', rest: 'wrong amount' }
 */
export function leadingApprovalId(text: string): { id: string; rest: string } | undefined {
  const match = LEADING_APPROVAL_ID.exec(text);
  return match ? { id: match[1]!.toLowerCase(), rest: match[2]! } : undefined;
}

/** 32 random bytes: an API key needs no slow hash when it cannot be guessed. */
export const newApiKeySecret = () => `csk_${randomBytes(32).toString('base64url')}`;
/** Standard Webhooks secrets are `whsec_` + base64 of at least 24 random bytes. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** The shape of the ids above: a path or field that does not match names nothing, and never reaches a query. */
const APPROVAL_ID = new RegExp(`^${PREFIXES.approval}[0-9a-z]{26}$`);
const BATCH_ID = new RegExp(`^${PREFIXES.batch}[0-9a-z]{26}$`);
export const isApprovalId = (text: string) => APPROVAL_ID.test(text);
export const isBatchId = (text: string) => BATCH_ID.test(text);
const GRANT_ID = new RegExp(`^${PREFIXES.grant}[0-9a-z]{26}$`);
export const isGrantId = (text: string) => GRANT_ID.test(text);
