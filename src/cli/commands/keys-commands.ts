import type { Command } from 'commander';
import type { Scope } from '../../db/schema.ts';
import { print, type CliRuntime } from '../cli-runtime.ts';

const list = (value: string) => value.split(',').map((part) => part.trim()).filter(Boolean);

export function registerKeysCommands(program: Command, runtime: CliRuntime): void {
  const keys = program.command('keys').description('create, list and revoke API keys');

  keys
    .command('create')
    .description('create an API key; prints the key and its callback secret once')
    .requiredOption('--name <name>', 'who or what uses the key')
    .requiredOption('--scopes <scopes>', 'comma-separated: intake,read,review,admin')
    .option('--project <key>', 'restrict the key to one project')
    .option('--reviewer <login>', 'the identity a review key decides as')
    .option('--callback-hosts <hosts>', 'comma-separated hosts callbacks may go to')
    .option('--json', 'machine-readable output')
    .action(async (opts: { name: string; scopes: string; project?: string; reviewer?: string; callbackHosts?: string; json?: boolean }) => {
      const created = await runtime.withServices(async (services) =>
        (await import('../../keys/api-keys.ts')).createApiKey(services, {
          name: opts.name,
          scopes: list(opts.scopes) as Scope[],
          project: opts.project,
          reviewer: opts.reviewer,
          callbackHosts: opts.callbackHosts ? list(opts.callbackHosts) : undefined,
        }),
      );
      print(
        runtime,
        opts.json,
        created,
        [
          `Created API key ${created.id} (${created.scopes.join(', ')}${created.project ? `, project ${created.project}` : ''}${created.reviewer ? `, reviewer ${created.reviewer}` : ''}).`,
          `key:            ${created.key}`,
          `webhook secret: ${created.webhookSecret}`,
          'Both are shown only now; store them where the agent or reviewer can read them.',
        ].join('\n'),
      );
    });

  keys
    .command('revoke <id>')
    .description('revoke an API key at once')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      await runtime.withServices(async (services) => (await import('../../keys/api-keys.ts')).revokeApiKey(services, id));
      print(runtime, opts.json, { id, revoked: true }, `Revoked ${id}.`);
    });

  keys
    .command('list')
    .description('list API keys (never their secrets)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const all = await runtime.withServices(async (services) => (await import('../../keys/api-keys.ts')).listApiKeys(services.db));
      const lines = all.map((k) => `${k.id}  ${k.name}  ${k.scopes.join(',')}${k.project ? `  project=${k.project}` : ''}${k.reviewer ? `  reviewer=${k.reviewer}` : ''}${k.revokedAt ? '  REVOKED' : ''}`);
      print(runtime, opts.json, all, lines.join('\n') || 'No API keys yet.');
    });
}
