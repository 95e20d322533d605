import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import type { TicketRequest } from '../provider-adapter.ts';

/** GitHub rejects issue bodies over 65,536 characters; the payload is cut to stay under. */
const MAX_BODY = 65_536;
const MARKER = /<!--\s*countersign:((?:apr|bat)_[0-9A-Za-z]+)\s*-->/g;

/** The hidden marker that ties an issue to its approval (or batch); found again after a crash, and in every webhook. */
export const approvalMarker = (approvalId: string) => `<!-- countersign:${approvalId} -->`;

/**
 * The approval (`apr_…`) or batch (`bat_…`) id in an issue body's marker, if Countersign wrote
 * one. The last marker wins: ours closes the body, after any text an agent supplied.
 */
export function readApprovalMarker(body: string | null | undefined): string | undefined {
  return body ? [...body.matchAll(MARKER)].at(-1)?.[1] : undefined;
}

/** A task-list line naming a batch item: `- [x] apr_… — …` (also `*`, `+`, `1.`, a backticked id, `[X]`). */
const TASK = /^ {0,3}(?:[-*+]|\d{1,9}[.)])[ \t]+\[([ xX])\][ \t]+`?(apr_[0-9A-Za-z]+)\b/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;

/**
 * The batch items a batch issue's body shows as ticked, read when the batch is approved: an item
 * a reviewer unticked, or whose line they deleted, is not in it. Lines inside fenced code blocks
 * are not tasks; an item listed twice counts as ticked only if every line ticks it.
 */
export function readTickedItems(body: string | null | undefined): string[] {
  const ticked = new Map<string, boolean>();
  let fence: string | undefined;
  for (const line of (body ?? '').split(/\r?\n/)) {
    const opening = FENCE.exec(line)?.[1];
    if (opening && (!fence || (opening[0] === fence[0] && opening.length >= fence.length))) {
      fence = fence ? undefined : opening;
      continue;
    }
    if (fence) continue;
    const task = TASK.exec(line);
    if (!task) continue;
    const id = task[2]!.toLowerCase();
    ticked.set(id, (ticked.get(id) ?? true) && task[1] !== ' ');
  }
  return [...ticked].filter(([, on]) => on).map(([id]) => id);
}

/** One line of text for a task-list item: no line breaks (a line is a task), no HTML (no marker can be smuggled in). */
const oneLine = (text: string, max = 200) => {
  const flat = text.replace(/\s+/g, ' ').trim().replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** The body of a batch issue: one ticked task per request, which a reviewer unticks to leave it out. */
function renderBatchBody(request: TicketRequest & { items: NonNullable<TicketRequest['items']> }): string {
  const { project, items } = request;
  return [
    `**${items.length} requests** for \`${project.key}\`, decided together · **Risk** ${request.risk}`,
    '',
    '### Requests',
    ...items.map((item) => `- [x] \`${item.approvalId}\` — ${oneLine(item.summary)} (\`${oneLine(item.action, 80)}\`) — \`${item.payloadHash}\``),
    '',
    `**Batch hash** \`${request.payloadHash}\``,
    '',
    '### How to decide',
    `- **Approve the ticked requests**: add the label \`${project.labels.approved}\`, or comment \`/approve\`. Untick a request first to leave it out: it is rejected.`,
    '- **Reject one request**: comment `/reject apr_… <reason>`.',
    `- **Reject them all**: add the label \`${project.labels.rejected}\`, or comment \`/reject <reason>\`.`,
    '',
    `Reviewers: ${request.reviewers.map((login) => `@${login}`).join(', ')}. Each request gets its own decision, audit record and callback. Closing the issue does not decide it. [The batch in Countersign](${request.approvalUrl})`,
    '',
    approvalMarker(request.approvalId),
  ].join('\n');
}

/** The labels an approval's issue carries while pending: the mapping's pending label, the risk, the request's own. */
export function pendingLabels(project: ProjectMapping, request: Pick<TicketRequest, 'risk' | 'labels'>): string[] {
  return [...new Set([project.labels.pending, `risk:${request.risk}`, ...request.labels])];
}

/** A fence longer than any run of backticks in the text, so a payload cannot close it early. */
function fenceFor(text: string): string {
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  return '`'.repeat(Math.max(3, longest + 1));
}

/** The issue body: what the agent wants to do, the exact payload and its hash, and how to decide. */
export function renderIssueBody(request: TicketRequest): string {
  if (request.items) return renderBatchBody({ ...request, items: request.items });
  const { project } = request;
  const required = request.requiredApprovals ?? project.requiredApprovals;
  const head = [
    `**Action** \`${request.action}\` · **Risk** ${request.risk}${request.requestedBy ? ` · **Requested by** ${request.requestedBy}` : ''}`,
    '',
    ...(request.details ? [request.details, ''] : []),
  ];
  const tail = [
    '',
    `**Payload hash** \`${request.payloadHash}\``,
    '',
    '### How to decide',
    `- **Approve**: add the label \`${project.labels.approved}\`, or comment \`/approve\``,
    `- **Reject**: add the label \`${project.labels.rejected}\`, or comment \`/reject <reason>\``,
    '',
    `Reviewers: ${request.reviewers.map((login) => `@${login}`).join(', ')} — ${required} approval${required === 1 ? '' : 's'} needed${required > 1 ? ' (one `/approve` comment each)' : ''}.`,
    `Closing the issue does not decide it. [The approval in Countersign](${request.approvalUrl})`,
    '',
    approvalMarker(request.approvalId),
  ];
  let payload = JSON.stringify(request.payload, null, 2) ?? 'null';
  const budget = MAX_BODY - [...head, ...tail].join('\n').length - 200;
  if (payload.length > budget) payload = `${payload.slice(0, Math.max(0, budget))}\n… (cut: the payload is too long for a GitHub issue; its hash covers the whole of it)`;
  const fence = fenceFor(payload);
  return [...head, '### Payload', `${fence}json`, payload, fence, ...tail].join('\n');
}
