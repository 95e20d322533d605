import type { ProjectMapping } from '../projects/mapping-schema.ts';
import type { ProviderFailure } from './provider-adapter.ts';
import { genericFailure } from './provider-failure.ts';
import type { ProviderRegistry } from './provider-registry.ts';

/** What asking a project's provider found: an empty `problems` when its tickets can be opened. */
export interface ProjectCheck {
  project: string;
  provider: string;
  problems: ProviderFailure[];
}

/**
 * Asks each project's provider, side by side, whether its tickets can be opened (see
 * `ProviderAdapter.checkProject`). A provider this server has no credentials for is a problem
 * too; a provider without the capability (`local`) has none to report.
 *
 * @example
 * for (const check of await checkProjects(services.providers, await listProjects(services.db)))
 *   for (const problem of check.problems) logger.warn(problem, `project ${check.project}: ${problem.message}`);
 */
export async function checkProjects(providers: ProviderRegistry, projects: readonly ProjectMapping[], channelChecks: ReadonlyArray<(project: ProjectMapping) => Promise<ProviderFailure[]>> = []): Promise<ProjectCheck[]> {
  return Promise.all(
    projects.map(async (project): Promise<ProjectCheck> => {
      let problems: ProviderFailure[];
      try {
        problems = (await providers.get(project.provider).checkProject?.(project)) ?? [];
        // Where a project also notifies (a `notify.slack` channel), that channel is asked too.
        for (const check of channelChecks) problems.push(...(await check(project)));
      } catch (error) {
        problems = [genericFailure(error)];
      }
      return { project: project.key, provider: project.provider, problems };
    }),
  );
}
