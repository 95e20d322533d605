import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { findPrincipalByHash, hashApiKey, type Principal } from './api-keys.ts';
import { perOwner, readThroughCache } from '../primitives/read-through-cache.ts';

/**
 * Live keys this process has already looked up, by the hash of their secret (never the secret).
 * Intake and the review API's decisions read it, and each confirms in its own statement that the
 * key is still unrevoked (intake's insert: countersign_live_key, migration 0021; a decision's row
 * lock: keyIsLive), so a key revoked on any instance is refused by the next write that would
 * commit, with no delay and no invalidation message to lose. A key's row
 * changes only when it is revoked, so a cached principal is otherwise never stale. Unknown
 * secrets are not kept: guessing cannot fill the cache.
 */
export interface PrincipalCache {
  /** The live key for a presented secret, from the cache or the database; undefined when none. */
  find(presentedKey: string): Promise<Principal | undefined>;
  /** Drops a key found revoked, so the next request reads it again (and is refused). */
  forget(keyId: string): void;
}

/** Bounded: beyond this many keys, the longest-held is dropped (and read again when next used). */
const MAX_KEYS = 1_000;

/** The cache of one database handle: each server (and each test's server) has its own. */
export const principalCacheFor = perOwner((db: Kysely<Database>): PrincipalCache => {
  const byHash = readThroughCache((hash) => findPrincipalByHash(db, hash), MAX_KEYS);
  return { find: (presentedKey) => byHash.find(hashApiKey(presentedKey)), forget: (keyId) => byHash.forget((principal) => principal.keyId === keyId) };
});
