import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';

/** A project's mapping as read, with the row's version: its `xmin`, the transaction that last wrote it (any apply or delete changes it). */
export interface VersionedProject {
  mapping: ProjectMapping;
  version: string;
}

/**
 * Mappings this process has read for intake, by project key, each with its row version. Intake
 * resolves its policy from the cached mapping, and its insert checks the row's version in the
 * same statement (countersign_mapped_project, migration 0021): a mapping applied meanwhile, on
 * any instance, fails the statement, and the intake is made again with the new mapping. So a
 * cached mapping never decides a committed request, and no invalidation message has to reach
 * every instance.
 */
export interface ProjectCache {
  find(key: string): Promise<VersionedProject | undefined>;
  forget(key: string): void;
}

/** Bounded like the key cache: a server maps a handful of projects, rarely hundreds. */
const MAX_PROJECTS = 1_000;

const caches = new WeakMap<Kysely<Database>, ProjectCache>();

export function projectCacheFor(db: Kysely<Database>): ProjectCache {
  let cache = caches.get(db);
  if (!cache) caches.set(db, (cache = createProjectCache(db)));
  return cache;
}

function createProjectCache(db: Kysely<Database>): ProjectCache {
  const byKey = new Map<string, VersionedProject>();
  return {
    async find(key) {
      const cached = byKey.get(key);
      if (cached) return cached;
      const row = await db.selectFrom('projects').select(['mapping', sql<string>`xmin::text`.as('version')]).where('key', '=', key).executeTakeFirst();
      if (!row) return undefined;
      const project = { mapping: row.mapping as ProjectMapping, version: row.version };
      if (byKey.size >= MAX_PROJECTS) byKey.delete(byKey.keys().next().value!);
      byKey.set(key, project);
      return project;
    },
    forget(key) {
      byKey.delete(key);
    },
  };
}
