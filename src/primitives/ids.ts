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

/** Ids sort by creation time (ULID), so list pages and logs read in order. */
export const newApprovalId = () => `apr_${ulid().toLowerCase()}`;
export const newKeyId = () => `key_${ulid().toLowerCase()}`;

/** 32 random bytes: an API key needs no slow hash when it cannot be guessed. */
export const newApiKeySecret = () => `csk_${randomBytes(32).toString('base64url')}`;
/** Standard Webhooks secrets are `whsec_` + base64 of at least 24 random bytes. */
export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

/** The shape of the ids above: a path or field that does not match names nothing, and never reaches a query. */
export const isApprovalId = (text: string) => /^apr_[0-9a-z]{26}$/.test(text);
export const isBatchId = (text: string) => /^bat_[0-9a-z]{26}$/.test(text);
