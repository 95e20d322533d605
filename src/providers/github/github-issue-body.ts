import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import type { TicketRequest } from '../provider-adapter.ts';

/** GitHub rejects issue bodies over 65,536 characters; the payload is cut to stay under. */
const MAX_BODY = 65_536;
const MARKER = /<!--\s*countersign:(apr_[0-9A-Za-z]+)\s*-->/;

/** The hidden marker that ties an issue to its approval; found again after a crash, and in every webhook. */
export const approvalMarker = (approvalId: string) => `<!-- countersign:${approvalId} -->`;

/** The approval id in an issue body's marker, if Countersign wrote one. */
export function readApprovalMarker(body: string | null | undefined): string | undefined {
  return body ? MARKER.exec(body)?.[1] : undefined;
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
