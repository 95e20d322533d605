import { Argument, type Command } from 'commander';
import type { GrantRequest } from '../../contract/grant-schema.ts';
import { CountersignError } from '../../primitives/errors.ts';
import { print, type CliRuntime } from '../cli-runtime.ts';

const usageError = (message: string) => new CountersignError(400, 'usage', message);

export function registerDecideCommand(program: Command, runtime: CliRuntime): void {
  program
    .command('decide <id>')
    // Checked by commander, so a wrong outcome is a usage error with a message, not a silent exit 2.
    .addArgument(new Argument('<outcome>', 'approve or reject').choices(['approve', 'reject']))
    .description('approve or reject an approval (apr_…) or a whole batch (bat_…) on the local provider, as a reviewer')
    // Not a commander requiredOption: commander would ask for it before saying the id and the outcome are missing.
    .option('--as <login>', 'the reviewer deciding (required); must be a reviewer of the project')
    .option('--reason <text>', 'why (shown to the agent)')
    .option('--payload <file.json>', 'approve with changes: the edited payload to approve instead (the project needs allowEdits)')
    .option('--grant <hours>', 'and allow the same requests of this agent for this many hours (the project needs grants)')
    .option('--grant-limits <json>', 'limits on payload fields for --grant, e.g. {"amount":{"max":100}}')
    .option('--exclude <id=reason>', 'batch only: reject this item instead (repeatable)', (value: string, all: string[]) => [...all, value], [] as string[])
    .option('--json', 'machine-readable output')
    .action(async function (this: Command, id: string, outcome: 'approve' | 'reject', opts: { as?: string; reason?: string; payload?: string; grant?: string; grantLimits?: string; exclude: string[]; json?: boolean }) {
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
      const extras = await readEditAndGrant(runtime, opts);
      const { result, view } = await runtime.withServices(async (services) => {
        const [{ decideLocal }, { toApprovalView }] = await Promise.all([import('../../approvals/decide-local.ts'), import('../../approvals/approval-view.ts')]);
        const result = await decideLocal(services, { approvalId: id, reviewer, outcome, reason: opts.reason, via: 'cli', ...extras });
        return { result, view: toApprovalView(result.approval) };
      });
      const human =
        result.result === 'decided'
          ? `${id} is ${view.status} (by ${view.decision?.by.join(', ')}).`
          : `${reviewer}'s approval counted: ${result.approvals} of ${result.required}; ${id} is still pending.`;
      print(runtime, opts.json, result.result === 'counted' ? { ...view, votes: { approvals: result.approvals, required: result.required } } : view, human);
    });
}

/** `--payload FILE` and `--grant HOURS [--grant-limits JSON]`, checked as the API checks its body. */
async function readEditAndGrant(runtime: CliRuntime, opts: { payload?: string; grant?: string; grantLimits?: string }): Promise<{ payload?: unknown; grant?: GrantRequest }> {
  if (opts.payload === undefined && opts.grant === undefined) {
    if (opts.grantLimits !== undefined) throw usageError('--grant-limits needs --grant <hours>');
    return {};
  }
  const [{ default: fs }, { default: path }, { parseStrictJson }, { grantRequestSchema }, { jsonValueSchema }, { parseRequestBody }] = await Promise.all([
    import('node:fs/promises'),
    import('node:path'),
    import('../../primitives/parse-strict-json.ts'),
    import('../../contract/grant-schema.ts'),
    import('../../primitives/json-value-problem.ts'),
    import('../../primitives/validation.ts'),
  ]);
  const out: { payload?: unknown; grant?: GrantRequest } = {};
  if (opts.payload !== undefined) out.payload = parseRequestBody(jsonValueSchema(), parseStrictJson(await fs.readFile(path.resolve(runtime.cwd, opts.payload), 'utf8')));
  if (opts.grant !== undefined) {
    const limits = opts.grantLimits === undefined ? undefined : parseStrictJson(opts.grantLimits);
    out.grant = parseRequestBody(grantRequestSchema, { hours: Number(opts.grant), ...(limits !== undefined ? { limits } : {}) });
  } else if (opts.grantLimits !== undefined) throw usageError('--grant-limits needs --grant <hours>');
  return out;
}
