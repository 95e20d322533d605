import type { Command } from 'commander';
import { print, type CliRuntime } from '../cli-runtime.ts';

export function registerGrantsCommands(program: Command, runtime: CliRuntime): void {
  const grants = program.command('grants').description('standing grants: "allow the same for N hours", given by reviewers when approving');

  grants
    .command('list')
    .description('list active grants (neither revoked nor expired)')
    .option('--project <key>', 'only this project')
    .option('--all', 'also revoked and expired ones')
    .option('--json', 'machine-readable output')
    .action(async (opts: { project?: string; all?: boolean; json?: boolean }) => {
      const all = await runtime.withServices(async (services) =>
        (await import('../../grants/grant-store.ts')).listGrants(services.db, { ...(opts.project ? { project: opts.project } : {}), includeInactive: opts.all === true, now: services.now() }),
      );
      const lines = all.map((g) => {
        const state = g.revokedAt ? `revoked ${g.revokedAt} by ${g.revokedBy}` : g.active ? `until ${g.expiresAt}` : `expired ${g.expiresAt}`;
        const limits = Object.keys(g.limits).length > 0 ? ` limits=${JSON.stringify(g.limits)}` : '';
        return `${g.id}  ${g.project}  ${g.action}  key=${g.apiKeyId}  requestedBy=${g.requestedBy ?? '(none)'}  by=${g.grantedBy}  ${state}  used ${g.uses}×${limits}`;
      });
      print(runtime, opts.json, { grants: all }, lines.join('\n') || (opts.all ? 'No grants.' : 'No active grants.'));
    });

  grants
    .command('revoke <id>')
    .description('revoke a grant at once: it approves nothing from now on')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      const revoked = await runtime.withServices(async (services) => {
        const [{ revokeGrant }, { OPERATOR_ACTOR }] = await Promise.all([import('../../grants/grant-store.ts'), import('../../audit/audit-record.ts')]);
        return revokeGrant(services, id, OPERATOR_ACTOR, services.now());
      });
      print(runtime, opts.json, revoked, `Revoked ${id}; it had approved ${revoked.uses} request${revoked.uses === 1 ? '' : 's'}.`);
    });
}
