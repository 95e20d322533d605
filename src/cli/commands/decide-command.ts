import { Argument, type Command } from 'commander';
import { print, type CliRuntime } from '../cli-runtime.ts';

export function registerDecideCommand(program: Command, runtime: CliRuntime): void {
  program
    .command('decide <id>')
    // Checked by commander, so a wrong outcome is a usage error with a message, not a silent exit 2.
    .addArgument(new Argument('<outcome>', 'approve or reject').choices(['approve', 'reject']))
    .description('approve or reject an approval (apr_…) or a whole batch (bat_…) on the local provider, as a reviewer')
    // Not a commander requiredOption: commander would ask for it before saying the id and the outcome are missing.
    .option('--as <login>', 'the reviewer deciding (required); must be a reviewer of the project')
    .option('--reason <text>', 'why (shown to the agent)')
    .option('--exclude <id=reason>', 'batch only: reject this item instead (repeatable)', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--json', 'machine-readable output')
    .action(async function (this: Command, id: string, outcome: 'approve' | 'reject', opts: { as?: string; reason?: string; exclude: string[]; json?: boolean }) {
      if (!opts.as) this.error("error: required option '--as <login>' not specified: the reviewer deciding", { exitCode: 2, code: 'commander.missingMandatoryOptionValue' });
      const reviewer = opts.as;
      // Imported here, not at the top: `--help` loads no id generator (ulid, node:crypto).
      const { idKind } = await import('../../primitives/ids.ts');
      if (idKind(id) === 'batch') {
        const exclude = opts.exclude.map((entry) => {
          const [itemId, ...reason] = entry.split('=');
          return { id: itemId!, ...(reason.length > 0 ? { reason: reason.join('=') } : {}) };
        });
        const batch = await runtime.withServices(async (services) => (await import('../../batching/decide-local-batch.ts')).decideLocalBatch(services, { batchId: id, reviewer, outcome, reason: opts.reason, exclude, via: 'cli' }));
        const counts = batch.items.reduce<Record<string, number>>((acc, item) => ({ ...acc, [item.status]: (acc[item.status] ?? 0) + 1 }), {});
        print(runtime, opts.json, batch, `${id}: ${Object.entries(counts).map(([status, n]) => `${n} ${status}`).join(', ') || 'no pending items'}.`);
        return;
      }
      const { result, view } = await runtime.withServices(async (services) => {
        const [{ decideLocal }, { toApprovalView }] = await Promise.all([import('../../approvals/decide-local.ts'), import('../../approvals/approval-view.ts')]);
        const result = await decideLocal(services, { approvalId: id, reviewer, outcome, reason: opts.reason, via: 'cli' });
        return { result, view: toApprovalView(result.approval) };
      });
      const human =
        result.result === 'decided'
          ? `${id} is ${view.status} (by ${view.decision?.by.join(', ')}).`
          : `${reviewer}'s approval counted: ${result.approvals} of ${result.required}; ${id} is still pending.`;
      print(runtime, opts.json, result.result === 'counted' ? { ...view, votes: { approvals: result.approvals, required: result.required } } : view, human);
    });
}
