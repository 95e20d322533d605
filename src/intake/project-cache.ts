import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import { perOwner, readThroughCache } from '../primitives/read-through-cache.ts';

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

export const projectCacheFor = perOwner((db: Kysely<Database>): ProjectCache => {
  const byKey = readThroughCache(async (key): Promise<VersionedProject | undefined> => {
    const row = await db.selectFrom('projects').select(['mapping', sql<string>`xmin::text`.as('version')]).where('key', '=', key).executeTakeFirst();
    return row && { mapping: row.mapping as ProjectMapping, version: row.version };
  }, MAX_PROJECTS);
  return { find: (key) => byKey.find(key), forget: (key) => byKey.forget((_, held) => held === key) };
});
