/**
 * What a process has read before, by key, read again only when it is not held: bounded to
 * `max` entries, the longest-held dropped first (and read again when next asked for). A miss
 * is not kept, so asking for keys that do not exist cannot fill it. Whoever uses one says why
 * a held value cannot decide anything stale (the intake's and the decision's own statements
 * confirm what they relied on).
 */
export interface ReadThroughCache<V> {
  find(key: string): Promise<V | undefined>;
  /** Drops every held value `drop` picks, so each is read again when next asked for. */
  forget(drop: (value: V, key: string) => boolean): void;
}

export function readThroughCache<V>(load: (key: string) => Promise<V | undefined>, max: number): ReadThroughCache<V> {
  const held = new Map<string, V>();
  return {
    async find(key) {
      const cached = held.get(key);
      if (cached !== undefined) return cached;
      const value = await load(key);
      if (value === undefined) return undefined;
      if (held.size >= max) held.delete(held.keys().next().value!);
      held.set(key, value);
      return value;
    },
    forget(drop) {
      for (const [key, value] of held) if (drop(value, key)) held.delete(key);
    },
  };
}

/** One `create(owner)` per owner (a database handle: each server, and each test's server, has its own), made when first asked for. */
export function perOwner<O extends object, T>(create: (owner: O) => T): (owner: O) => T {
  const made = new WeakMap<O, T>();
  return (owner) => {
    let value = made.get(owner);
    if (value === undefined) made.set(owner, (value = create(owner)));
    return value;
  };
}
