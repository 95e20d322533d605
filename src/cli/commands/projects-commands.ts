import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { unprocessable } from '../../errors.ts';
import { print, type CliRuntime } from '../cli-runtime.ts';

export function registerProjectsCommands(program: Command, runtime: CliRuntime): void {
  const projects = program.command('projects').description('project mappings: which provider and reviewers each project uses');

  projects
    .command('apply <file>')
    .description('create or update the projects in a mapping file (YAML)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean }) => {
      const text = await fs.readFile(path.resolve(runtime.cwd, file), 'utf8');
      const results = await runtime.withServices(async (services) => {
        const { applyProjects, parseMappingFile } = await import('../../projects/project-store.ts');
        return applyProjects(services, parseMappingFile(text, services.providers.available));
      });
      print(runtime, opts.json, { projects: results }, results.map((r) => `${r.key}: ${r.change}`).join('\n'));
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
      let sample: unknown;
      try {
        sample = JSON.parse(sampleText);
      } catch (error) {
        throw unprocessable('invalid_json', `${opts.request} is not valid JSON: ${(error as Error).message}`);
      }
      const [{ parseMappingFile }, { explainRequest, formatExplanation }] = await Promise.all([import('../../projects/project-store.ts'), import('../../rules/explain-request.ts')]);
      // A dry run of the file itself: every provider counts as available.
      const explanation = explainRequest(parseMappingFile(mapping, new Set(['local', 'github', 'jira'])), sample);
      print(runtime, opts.json, explanation, formatExplanation(explanation));
    });
}
