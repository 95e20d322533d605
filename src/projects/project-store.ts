import { parse as parseYaml } from 'yaml';
import { sql, type Expression, type Kysely } from 'kysely';
import type { AuditedDatabase } from '../audit/audit-log.ts';
import { OPERATOR_ACTOR, type AuditActor } from '../audit/audit-record.ts';
import { toJson } from '../db/json.ts';
import type { Database } from '../db/schema.ts';
import { conflict, notFound, unprocessable } from '../primitives/errors.ts';
import { findJsonValueProblem } from '../primitives/json-value-problem.ts';
import { formatIssues, formatPath } from '../primitives/validation.ts';
import { canonicalJson } from '../primitives/canonical-json.ts';
import { mappingFileSchema, projectMappingSchema, type Person, type ProjectMapping, type ProviderName } from './mapping-schema.ts';
import { peopleAuditEntry, replacePeople } from './people-store.ts';
import { replaceReviewSettings, reviewAuditEntry, type ReviewSettings } from './review-settings.ts';

/** A mapping file as parsed: its projects, and its people directory when the file has `people:`. */
export interface ParsedMappingFile {
  projects: ProjectMapping[];
  people?: Person[];
  /** The weekly review's settings when the file has `review:` (src/projects/review-settings.ts). */
  review?: ReviewSettings;
}

/** Parses a mapping file's text (YAML or JSON); errors name the field path. */
export function parseMappingFile(text: string, availableProviders: ReadonlySet<ProviderName>): ParsedMappingFile {
  let raw: unknown;
  try {
    raw = parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    throw unprocessable('invalid_mapping', `mapping file is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  // The same limits as a JSON body: YAML can spell NUL ("\0") and lone surrogates too.
  const problem = findJsonValueProblem(raw);
  if (problem) throw unprocessable('invalid_mapping', `${formatPath(problem.path) || 'mapping file'}: ${problem.message}`);
  const shape = fileShapeProblem(raw);
  if (shape) throw unprocessable('invalid_mapping', `${shape}. A minimal mapping file:\n${MINIMAL_MAPPING_FILE}`);
  const parsed = mappingFileSchema.safeParse(raw);
  if (!parsed.success) throw unprocessable('invalid_mapping', formatIssues(parsed.error).join('\n'));
  parsed.data.projects.forEach((project, i) => assertProviderAvailable(project, availableProviders, `projects[${i}].provider`));
  return { projects: parsed.data.projects, ...(parsed.data.people ? { people: parsed.data.people } : {}), ...(parsed.data.review ? { review: parsed.data.review } : {}) };
}

export const MINIMAL_MAPPING_FILE = ['projects:', '  - key: billing-bot', '    provider: local', '    reviewers: [alice, bob]'].join('\n');

/**
 * What is wrong with a file that is not even the outline of a mapping, in words a first user
 * understands (zod alone says "expected object, received null" for an empty file).
 */
function fileShapeProblem(raw: unknown): string | undefined {
  if (raw === null || raw === undefined) return 'the mapping file is empty';
  if (Array.isArray(raw)) return 'the mapping file is a list; the list of projects goes under a top-level `projects:` key';
  if (typeof raw !== 'object') return 'the mapping file holds a single value, not a `projects:` list';
  if (!('projects' in raw)) return `the mapping file has no top-level \`projects:\` key${Object.keys(raw).length > 0 ? ` (it has ${Object.keys(raw).slice(0, 5).map((key) => JSON.stringify(key)).join(', ')})` : ''}`;
  const projects = (raw as { projects: unknown }).projects;
  if (projects === null || (Array.isArray(projects) && projects.length === 0)) return '`projects:` lists no project';
  return undefined;
}

/** One project as sent to `PUT /v1/admin/projects/{key}`. */
export function parseProjectMapping(key: string, body: unknown, availableProviders: ReadonlySet<ProviderName>): ProjectMapping {
  const withKey = body !== null && typeof body === 'object' && !Array.isArray(body) ? { key, ...body } : body;
  const parsed = projectMappingSchema.safeParse(withKey);
  if (!parsed.success) throw unprocessable('invalid_mapping', formatIssues(parsed.error).join('\n'));
  if (parsed.data.key !== key) throw unprocessable('invalid_mapping', `key: "${parsed.data.key}" does not match the URL's project key "${key}"`);
  assertProviderAvailable(parsed.data, availableProviders, 'provider');
  return parsed.data;
}

function assertProviderAvailable(project: ProjectMapping, available: ReadonlySet<ProviderName>, where: string) {
  if (!available.has(project.provider)) {
    throw unprocessable('provider_unavailable', `${where}: provider ${project.provider} is not configured on this server (available: ${[...available].join(', ')})`);
  }
}

export type ApplyResult = { key: string; change: 'created' | 'updated' | 'unchanged' };

/**
 * Creates or updates each project in one transaction: a file applies whole or not at all.
 * `people`: the file's people directory, which replaces the stored one (absent: left as it is).
 * `review`: the file's `review:` settings, likewise.
 */
export async function applyProjects({ db, audit }: AuditedDatabase, projects: ProjectMapping[], actor: AuditActor = OPERATOR_ACTOR, people?: readonly Person[], review?: ReviewSettings): Promise<ApplyResult[]> {
  return db.transaction().execute(async (trx) => {
    const peopleEntry = people && peopleAuditEntry(await replacePeople(trx, people), people, actor);
    const reviewEntry = review && (await replaceReviewSettings(trx, review)) ? reviewAuditEntry(review, actor) : undefined;
    const results: ApplyResult[] = [];
    for (const project of projects) {
      const existing = await trx.selectFrom('projects').select(['mapping']).where('key', '=', project.key).forUpdate().executeTakeFirst();
      if (!existing) {
        await trx.insertInto('projects').values({ key: project.key, provider: project.provider, mapping: toJson(project) }).execute();
        results.push({ key: project.key, change: 'created' });
      } else if (canonicalJson(existing.mapping) === canonicalJson(project)) {
        results.push({ key: project.key, change: 'unchanged' });
      } else {
        await trx.updateTable('projects').set({ provider: project.provider, mapping: toJson(project), updated_at: new Date() }).where('key', '=', project.key).execute();
        results.push({ key: project.key, change: 'updated' });
      }
    }
    // Last in the transaction: the audit append holds the log's lock until commit.
    for (const [i, result] of results.entries()) {
      if (result.change !== 'unchanged') await audit.append(trx, { event: 'project.changed', actor, data: { key: result.key, change: result.change, mapping: projects[i] } });
    }
    if (peopleEntry) await audit.append(trx, peopleEntry);
    if (reviewEntry) await audit.append(trx, reviewEntry);
    return results;
  });
}

export async function listProjects(db: Kysely<Database>): Promise<ProjectMapping[]> {
  const rows = await db.selectFrom('projects').select('mapping').orderBy('key').execute();
  return rows.map((row) => row.mapping as ProjectMapping);
}

export async function findProject(db: Kysely<Database>, key: string): Promise<ProjectMapping | undefined> {
  const row = await db.selectFrom('projects').select('mapping').where('key', '=', key).executeTakeFirst();
  return row?.mapping as ProjectMapping | undefined;
}

/** {@link findProject} as an expression (null when unmapped), for a statement that reads more besides. */
export const projectMappingOf = (key: string | Expression<string>) => sql<ProjectMapping | null>`(select mapping from projects where key = ${key})`;

/** A project with pending approvals cannot go: their reviewers would be unknown. */
export async function deleteProject({ db, audit }: AuditedDatabase, key: string, actor: AuditActor = OPERATOR_ACTOR): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('projects').select('key').where('key', '=', key).forUpdate().executeTakeFirst();
    if (!row) throw notFound(`no project "${key}"`);
    const pending = await trx.selectFrom('approvals').select('id').where('project', '=', key).where('status', '=', 'pending').limit(1).executeTakeFirst();
    if (pending) throw conflict('project_has_pending', `project "${key}" has pending approvals (e.g. ${pending.id}); decide or cancel them first`);
    await trx.deleteFrom('projects').where('key', '=', key).execute();
    await audit.append(trx, { event: 'project.changed', actor, data: { key, change: 'deleted' } });
  });
}
