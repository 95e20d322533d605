import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { applyProjects, listProjects, parseMappingFile } from '../../projects/project-store.ts';
import { print, type CliRuntime } from '../cli-runtime.ts';

export function registerProjectsCommands(program: Command, runtime: CliRuntime): void {
  const projects = program.command('projects').description('project mappings: which provider and reviewers each project uses');

  projects
    .command('apply <file>')
    .description('create or update the projects in a mapping file (YAML)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean }) => {
      const text = await fs.readFile(path.resolve(runtime.cwd, file), 'utf8');
      const results = await runtime.withServices(async (services) => applyProjects(services.db, parseMappingFile(text, services.providers.available)));
      print(runtime, opts.json, { projects: results }, results.map((r) => `${r.key}: ${r.change}`).join('\n'));
    });

  projects
    .command('list')
    .description('list the mapped projects')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const all = await runtime.withServices((services) => listProjects(services.db));
      const lines = all.map((p) => `${p.key}  ${p.provider}  reviewers=${p.reviewers.join(',')}  requiredApprovals=${p.requiredApprovals}`);
      print(runtime, opts.json, { projects: all }, lines.join('\n') || 'No projects yet: countersign projects apply FILE.yaml');
    });
}
