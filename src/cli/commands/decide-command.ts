import { InvalidArgumentError, type Command } from 'commander';
import { toApprovalView } from '../../approvals/approval-view.ts';
import { decideLocal } from '../../approvals/decide-local.ts';
import { print, type CliRuntime } from '../cli-runtime.ts';

export function registerDecideCommand(program: Command, runtime: CliRuntime): void {
  program
    .command('decide <id> <outcome>')
    .description('approve or reject an approval on the local provider, as a reviewer')
    .requiredOption('--as <login>', 'the reviewer deciding; must be a reviewer of the project')
    .option('--reason <text>', 'why (shown to the agent)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, outcome: string, opts: { as: string; reason?: string; json?: boolean }) => {
      if (outcome !== 'approve' && outcome !== 'reject') throw new InvalidArgumentError(`outcome must be approve or reject, not "${outcome}"`);
      const result = await runtime.withServices((services) =>
        decideLocal(services, { approvalId: id, reviewer: opts.as, outcome, reason: opts.reason, via: 'cli' }),
      );
      const view = toApprovalView(result.approval);
      const human =
        result.result === 'decided'
          ? `${id} is ${view.status} (by ${view.decision?.by.join(', ')}).`
          : `${opts.as}'s approval counted: ${result.approvals} of ${result.required}; ${id} is still pending.`;
      print(runtime, opts.json, result.result === 'counted' ? { ...view, votes: { approvals: result.approvals, required: result.required } } : view, human);
    });
}
