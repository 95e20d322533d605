import type { Command } from 'commander';
import type { ApprovalDetail } from '../../approvals/approval-detail.ts';
import type { ApprovalView } from '../../approvals/approval-view.ts';
import { blockText, lineText, payloadJson } from '../../providers/requester-text.ts';
import { print, type CliRuntime } from '../cli-runtime.ts';

/** Indents every line of a block, so requester text cannot start a line that looks like ours. */
const indented = (text: string) => text.split('\n').map((line) => `    ${line}`).join('\n');

function listLine(view: ApprovalView): string {
  return [view.id, view.status.padEnd(9), view.project, view.risk.padEnd(6), lineText(view.action), lineText(view.summary)].join('  ');
}

function showText({ approval, votes }: ApprovalDetail, view: ApprovalView): string {
  const approvals = votes.filter((vote) => vote.outcome === 'approve').length;
  const lines = [
    `${view.id}  ${view.status}  project ${view.project}  risk ${view.risk}  approvals ${approvals} of ${view.requiredApprovals}`,
    `payload hash: ${view.payloadHash}`,
    'payload:',
    indented(payloadJson(approval.payload)),
    `created:      ${view.createdAt}`,
    `ticket:       ${view.ticket ? `${view.ticket.provider} ${view.ticket.key} ${view.ticket.url}` : approval.ticket_error ? `not opened yet: ${approval.ticket_error.message}` : 'none yet'}`,
    ...(view.decision ? [`decision:     ${view.decision.outcome} by ${view.decision.by.map(lineText).join(', ') || 'nobody'} at ${view.decision.at}`] : []),
    'votes:',
    ...(votes.length === 0 ? ['    none yet'] : votes.map((vote) => `    ${lineText(vote.reviewer)} ${vote.outcome} via ${vote.via} at ${vote.at.toISOString()}${vote.reason ? `: ${lineText(vote.reason)}` : ''}`)),
    ...(view.status === 'pending' ? [`decide:       countersign decide ${view.id} approve|reject --as <reviewer> [--reason <text>]`] : []),
    // The agent's own words last, each marked as such: nothing above can be pushed down or faked by them.
    'as the agent wrote it:',
    `    action:       ${lineText(view.action)}`,
    `    summary:      ${lineText(view.summary)}`,
    `    requested by: ${view.requestedBy === null ? '(not given)' : lineText(view.requestedBy)}`,
    `    labels:       ${view.labels.map(lineText).join(', ') || '(none)'}`,
    '    details:',
    approval.details === null ? '        (none)' : indented(indented(blockText(approval.details))),
  ];
  return lines.join('\n');
}

export function registerApprovalsCommands(program: Command, runtime: CliRuntime): void {
  const approvals = program.command('approvals').description('list approvals and show one, with its payload and votes');

  approvals
    .command('list')
    .description('approvals, newest first')
    .option('--status <status>', 'only these: pending, approved, rejected, expired or cancelled')
    .option('--project <key>', 'only this project')
    .option('--limit <n>', 'at most this many (1–200)', '50')
    .option('--cursor <cursor>', 'the next page, as the previous page printed it')
    .option('--json', 'machine-readable output: { items, nextCursor } as GET /v1/approvals answers')
    .action(async (opts: { status?: string; project?: string; limit: string; cursor?: string; json?: boolean }) => {
      const page = await runtime.withServices(async (services) => {
        const [{ listApprovals }, { OPERATOR_PRINCIPAL }, { toApprovalView }] = await Promise.all([
          import('../../approvals/read-approvals.ts'),
          import('../../keys/api-keys.ts'),
          import('../../approvals/approval-view.ts'),
        ]);
        const { items, nextCursor } = await listApprovals(services, OPERATOR_PRINCIPAL, { status: opts.status, project: opts.project, limit: opts.limit, cursor: opts.cursor });
        return { items: items.map(toApprovalView), nextCursor };
      });
      const more = page.nextCursor ? `\nmore: countersign approvals list --cursor ${page.nextCursor}` : '';
      const none = opts.status || opts.project ? 'No approvals match.' : 'No approvals yet.';
      print(runtime, opts.json, page, page.items.length === 0 ? none : page.items.map(listLine).join('\n') + more);
    });

  approvals
    .command('show <id>')
    .description('one approval: payload and its hash, ticket, votes so far, and the request as the agent wrote it')
    .option('--json', 'machine-readable output: the approval as the API shows it, with details, payload and votes')
    .action(async (id: string, opts: { json?: boolean }) => {
      const { detail, view } = await runtime.withServices(async (services) => {
        const [{ readApprovalDetail }, { toApprovalView }] = await Promise.all([import('../../approvals/approval-detail.ts'), import('../../approvals/approval-view.ts')]);
        const detail = await readApprovalDetail(services.db, id);
        return { detail, view: toApprovalView(detail.approval) };
      });
      const json = { ...view, details: detail.approval.details, payload: detail.approval.payload, votes: detail.votes };
      print(runtime, opts.json, json, showText(detail, view));
    });
}
