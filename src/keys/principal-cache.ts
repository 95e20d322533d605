import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import { findPrincipalByHash, hashApiKey, type Principal } from './api-keys.ts';

/**
 * Live keys this process has already looked up, by the hash of their secret (never the secret).
 * Only intake reads it, and intake's own insert confirms in the same statement that the key is
 * still unrevoked (countersign_live_key, migration 0021), so a key revoked on any instance is
 * refused by the next intake that would commit, with no delay and no invalidation message to lose. A key's row
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

const caches = new WeakMap<Kysely<Database>, PrincipalCache>();

/** The cache of one database handle: each server (and each test's server) has its own. */
export function principalCacheFor(db: Kysely<Database>): PrincipalCache {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = createPrincipalCache(db)));
  return cache;
}

function createPrincipalCache(db: Kysely<Database>): PrincipalCache {
  const byHash = new Map<string, Principal>();
  return {
    async find(presentedKey) {
      const hash = hashApiKey(presentedKey);
      const cached = byHash.get(hash);
      if (cached) return cached;
      const principal = await findPrincipalByHash(db, hash);
      if (!principal) return undefined;
      if (byHash.size >= MAX_KEYS) byHash.delete(byHash.keys().next().value!);
      byHash.set(hash, principal);
      return principal;
    },
    forget(keyId) {
      for (const [hash, principal] of byHash) if (principal.keyId === keyId) byHash.delete(hash);
    },
  };
}
