import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';

/** A project's mapping as read, with the row version (`xmin`) it was read at. */
export interface VersionedProject {
  mapping: ProjectMapping;
  version: string;
}

/**
 * Mappings this process has read for intake, by project key, each with its row version. Intake
 * resolves its policy from the cached mapping and its write reads the row's current version in
 * the same statement (`projectVersion`): a mapping applied meanwhile, on any instance, does not
 * match, and the intake is rolled back and made again with the new mapping. So a cached mapping
 * never decides a committed request, and no invalidation message has to reach every instance.
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

/**
 * The version of the row as a statement sees it: any update or delete and re-insert gives the
 * row a new `xmin` (the transaction that wrote it), and a missing row gives null.
 */
export const projectVersion = (key: string) => sql<string | null>`(select xmin::text from projects where key = ${key})`;

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
