import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { CountersignError, unprocessable } from '../../primitives/errors.ts';
import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import { print, type CliRuntime } from '../cli-runtime.ts';

export function registerProjectsCommands(program: Command, runtime: CliRuntime): void {
  const projects = program.command('projects').description('project mappings: which provider and reviewers each project uses');

  projects
    .command('apply <file>')
    .description('create or update the projects in a mapping file (YAML), then check each against its provider')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean }) => {
      const text = await fs.readFile(path.resolve(runtime.cwd, file), 'utf8');
      // Applied even when a provider reports a problem: the mapping is valid, and the token,
      // repository or workflow is often fixed after it is written; exit 1 says it is not done.
      const { results, checks } = await runtime.withServices(async (services) => {
        const [{ applyProjects, parseMappingFile }, { checkProjects }] = await Promise.all([import('../../projects/project-store.ts'), import('../../providers/check-projects.ts')]);
        const { projects, people, review } = parseMappingFile(text, services.providers.available);
        const applied = await applyProjects(services, projects, undefined, people, review);
        // The file's `review:` (weekly review thresholds and destination): the weekly job follows its schedule.
        if (review) await (await import('../../review/weekly-review-job.ts')).syncReviewSchedule(services.jobs, review);
        return { results: applied, checks: await checkProjects(services.providers, projects, services.slack ? [services.slack.notifier.checkProject] : []) };
      });
      const problems = checks.flatMap((check) => check.problems.map((problem) => ({ project: check.project, provider: check.provider, ...problem })));
      print(runtime, opts.json, { projects: results, problems }, results.map((r) => `${r.key}: ${r.change}`).join('\n'));
      if (problems.length === 0) return;
      if (!opts.json) for (const problem of problems) runtime.err(`${problem.project}: ${problem.message}\n`);
      const projectCount = new Set(problems.map((problem) => problem.project)).size;
      throw new CountersignError(422, 'provider_problems', `applied, but the provider of ${projectCount} project${projectCount === 1 ? '' : 's'} reported problems${opts.json ? ' (see "problems")' : ' (above)'}: tickets cannot be opened until they are fixed`);
    });

  projects
    .command('list')
    .description('list the mapped projects')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const all = await runtime.withServices(async (services) => (await import('../../projects/project-store.ts')).listProjects(services.db));
      const lines = all.map((p) => `${p.key}  ${p.provider}  reviewers=${p.reviewers.join(',')}  requiredApprovals=${p.requiredApprovals}`);
      print(runtime, opts.json, { projects: all }, lines.join('\n') || 'No projects yet: countersign projects apply FILE.yaml');
    });

  projects
    .command('explain <file>')
    .description('dry run: which rules of a mapping file match a sample request, and what would happen to it')
    .requiredOption('--request <sample.json>', 'an intake body, as an agent would POST it')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { request: string; json?: boolean }) => {
      const mapping = await fs.readFile(path.resolve(runtime.cwd, file), 'utf8');
      const sampleText = await fs.readFile(path.resolve(runtime.cwd, opts.request), 'utf8');
      const [{ parseMappingFile }, { explainRequest, formatExplanation }, { parseStrictJson }] = await Promise.all([
        import('../../projects/project-store.ts'),
        import('../../rules/explain-request.ts'),
        import('../../primitives/parse-strict-json.ts'),
      ]);
      let sample: unknown;
      try {
        sample = parseStrictJson(sampleText);
      } catch (error) {
        if (error instanceof CountersignError) throw unprocessable(error.code, `${opts.request}: ${error.message}`);
        throw error;
      }
      // A dry run of the file itself: every provider counts as available.
      const { projects, people } = parseMappingFile(mapping, new Set(['local', 'github', 'jira', 'slack']));
      // Which standing grants would approve it: those the server's database holds now.
      const explanation = explainRequest(projects, sample, people, await grantsFor(runtime, projects, sample));
      print(runtime, opts.json, explanation, formatExplanation(explanation));
    });
}

/** The active grants covering the sample request, from the server's database; none when the sample names no mapped project. */
async function grantsFor(runtime: CliRuntime, projects: ProjectMapping[], sample: unknown) {
  const [{ intakeSchema }, { resolvePolicy }] = await Promise.all([import('../../contract/intake-schema.ts'), import('../../rules/resolve-policy.ts')]);
  const request = intakeSchema.safeParse(sample);
  const project = request.success ? projects.find((p) => p.key === request.data.project) : undefined;
  if (!request.success || !project?.grants) return [];
  const policy = resolvePolicy(project, { risk: request.data.risk, action: request.data.action, labels: request.data.labels });
  return runtime.withServices(async (services) =>
    (await import('../../grants/grant-store.ts')).grantsCovering(
      services.db,
      { project: project.key, action: request.data.action, requestedBy: request.data.requestedBy ?? null, payload: request.data.payload ?? null, risk: request.data.risk, requiredApprovals: policy.requiredApprovals },
      services.now(),
    ),
  );
}
