import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import type { JiraIssuesLike, JiraStatus } from './jira-issues-like.ts';

export type JiraProject = Extract<ProjectMapping, { provider: 'jira' }>;

export interface ResolvedStatuses {
  approvedId: string;
  rejectedId: string;
  /** Every status of the project by id, for naming one in a comment. */
  names: ReadonlyMap<string, string>;
}

export interface StatusResolver {
  /** The mapping's approved and rejected statuses as ids; one API call per project, cached. */
  resolve(project: JiraProject): Promise<ResolvedStatuses>;
}

/** Workflows change rarely; a renamed or added status is picked up within this long. */
const TTL_MS = 10 * 60_000;

/**
 * Statuses are matched by id, never by name: `issue.fields.status.name` may be localized while
 * the changelog's `toString` is not (PROVIDER-NOTES.md). The mapping may name a status or give
 * its id; names are looked up case-insensitively among the project's statuses for the mapping's
 * issue type (`GET /rest/api/3/project/{key}/statuses`), falling back to all its issue types.
 */
export function createStatusResolver(client: Pick<JiraIssuesLike, 'projects'>, options: { now?: () => number } = {}): StatusResolver {
  const now = options.now ?? Date.now;
  const cache = new Map<string, { at: number; value: Promise<ResolvedStatuses> }>();

  async function load(project: JiraProject): Promise<ResolvedStatuses> {
    const { jira } = project;
    const types = await client.projects.getAllStatuses({ projectIdOrKey: jira.project });
    const own = types.filter((type) => type.name.toLowerCase() === jira.issueType.toLowerCase()).flatMap((type) => type.statuses);
    const all = types.flatMap((type) => type.statuses);
    const names = new Map<string, string>();
    for (const status of all) if (status.id) names.set(status.id, status.name ?? status.id);

    const find = (wanted: string, setting: string): string => {
      for (const candidates of [own, all]) {
        const byId = candidates.find((s) => s.id === wanted);
        if (byId?.id) return byId.id;
        const byName = [...new Set(candidates.filter((s: JiraStatus) => s.name?.toLowerCase() === wanted.toLowerCase()).map((s) => s.id))];
        if (byName.length === 1 && byName[0]) return byName[0];
        if (byName.length > 1) throw new Error(`Jira project ${jira.project}: status name "${wanted}" (${setting}) matches several statuses (${byName.join(', ')}); give its id in the mapping instead`);
      }
      const known = [...new Set(all.map((s) => `${s.name} (${s.id})`))].join(', ');
      throw new Error(`Jira project ${jira.project} has no status "${wanted}" (${setting} of mapping ${project.key}); its statuses are: ${known || 'none'}. Add it to the workflow or fix the mapping`);
    };
    const approvedId = find(jira.approvedStatus, 'approvedStatus');
    const rejectedId = find(jira.rejectedStatus, 'rejectedStatus');
    if (approvedId === rejectedId) throw new Error(`Jira project ${jira.project}: approvedStatus and rejectedStatus are the same status (${approvedId})`);
    return { approvedId, rejectedId, names };
  }

  return {
    resolve(project) {
      const key = JSON.stringify([project.jira.project, project.jira.issueType, project.jira.approvedStatus, project.jira.rejectedStatus]);
      const hit = cache.get(key);
      if (hit && now() - hit.at < TTL_MS) return hit.value;
      const value = load(project);
      cache.set(key, { at: now(), value });
      // A failed look-up is tried again next time rather than remembered.
      value.catch(() => cache.delete(key));
      return value;
    },
  };
}
