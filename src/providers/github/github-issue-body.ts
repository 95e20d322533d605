import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import { fitToLimit, payloadCutNote, trimNote, type Fitted } from '../fit-to-limit.ts';
import { requesterLabels } from '../requester-labels.ts';
import { cutText, lineText, payloadJson } from '../requester-text.ts';
import type { TicketRequest } from '../provider-adapter.ts';
import { codeBlock, requesterBlock, requesterSpan } from './github-markdown.ts';

/** The marker line, exactly as {@link approvalMarker} writes it. */
const MARKER = /^<!-- countersign:((?:apr|bat)_[0-9A-Za-z]+) -->$/;

/** The hidden marker that ties an issue to its approval (or batch); found again after a crash, and in every webhook. */
export const approvalMarker = (approvalId: string) => `<!-- countersign:${approvalId} -->`;

/**
 * The approval (`apr_…`) or batch (`bat_…`) id in an issue body's marker, if Countersign wrote
 * one. Only the body's last non-blank line counts: Countersign writes the marker there, after
 * all requester text, and requester text is always inside code, never on a line of its own, so a
 * marker an agent wrote (anywhere, in any spelling) is never read. Line endings may be `\r\n`
 * once a person has edited the body on github.com.
 */
export function readApprovalMarker(body: string | null | undefined): string | undefined {
  const last = (body ?? '').trimEnd().split(/\r\n?|\n/).at(-1) ?? '';
  return MARKER.exec(last.trim())?.[1];
}

/**
 * The text of the payload block as the body shows it now (a reviewer may have edited it), read
 * when an approval arrives: the first fenced block after the `### Payload` heading Countersign
 * wrote. `undefined` when there is none, or when Countersign cut the payload to fit (the block
 * is then not the whole payload and cannot be an edit of it).
 */
export function readPayloadBlock(body: string | null | undefined): string | undefined {
  const lines = (body ?? '').split(/\r?\n/);
  const heading = lines.findIndex((line) => line.trim() === '### Payload');
  if (heading < 0) return undefined;
  const start = lines.findIndex((line, i) => i > heading && line.trim() !== '');
  const opening = start < 0 ? undefined : FENCE.exec(lines[start]!)?.[1];
  if (!opening) return undefined;
  const end = lines.findIndex((line, i) => i > start && line.trim() === opening);
  if (end < 0) return undefined;
  if ((lines[end + 1] ?? '').startsWith(`_(${payloadCutNote(0).split(' ')[0]}`)) return undefined;
  return lines.slice(start + 1, end).join('\n');
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

/** GitHub refuses issue bodies and comments over 65,536 characters. */
export const MAX_BODY = 65_536;

/** A Countersign note after text that was cut, with a link to the whole request. */
const note = (text: string, url: string) => `_(${text} <${url}>)_`;
const noteFor = (field: Fitted, url: string) => (field.cut > 0 ? ` ${note(trimNote(field.cut), url)}` : '');

/** `@login` for the reviewers Countersign names (logins from the mapping, never from the request). */
const mentions = (logins: readonly string[]) => logins.map((login) => `@${login}`).join(', ');

type BatchRequest = TicketRequest & { items: NonNullable<TicketRequest['items']> };

/**
 * The body of a batch issue: one ticked task per request, which a reviewer unticks to leave it
 * out. Each line starts with what Countersign vouches for (the request id and its payload hash);
 * the agent's summary and action follow as code spans on the same line, so they can neither
 * start a line (a forged task) nor render as anything but text.
 */
function renderBatchBody(request: BatchRequest): string {
  const { project, items } = request;
  return fitToLimit({
    limit: MAX_BODY,
    size: (body) => body.length,
    payload: '',
    fields: items.flatMap((item) => [item.summary, item.action]),
    render: (_, fields) =>
      [
        `**${items.length} requests** for \`${project.key}\`, decided together · **Risk** ${request.risk}`,
        '',
        `**Batch hash** \`${request.payloadHash}\``,
        '',
        '### Requests',
        ...items.map((item, i) => {
          const summary = fields[2 * i]!;
          const action = fields[2 * i + 1]!;
          return `- [x] \`${item.approvalId}\` · \`${item.payloadHash}\` — ${requesterSpan(summary.text)}${noteFor(summary, request.approvalUrl)} · action ${requesterSpan(action.text)}${noteFor(action, request.approvalUrl)}`;
        }),
        '',
        '### How to decide',
        `- **Approve the ticked requests**: add the label \`${project.labels.approved}\`, or comment \`/approve\`. Untick a request first to leave it out: it is rejected.`,
        '- **Reject one request**: comment `/reject apr_… <reason>`.',
        `- **Reject them all**: add the label \`${project.labels.rejected}\`, or comment \`/reject <reason>\`.`,
        '',
        `Reviewers: ${mentions(request.reviewers)}. Each request gets its own decision, audit record and callback. Closing the issue does not decide it. [The batch in Countersign](${request.approvalUrl})`,
        '',
        'Summaries and actions are the agents\' own text, shown as code.',
        '',
        approvalMarker(request.approvalId),
      ].join('\n'),
  });
}

/** The labels an approval's issue carries while pending: the mapping's pending label, the risk, the request's own. */
export function pendingLabels(project: ProjectMapping, request: Pick<TicketRequest, 'risk' | 'labels'>): string[] {
  return [...new Set([project.labels.pending, `risk:${request.risk}`, ...githubLabels(project, request.labels)])];
}

/** GitHub's longest label name. */
const MAX_LABEL = 50;

/** The request's own labels as the issue may carry them: none that Countersign sets itself (see `requesterLabels`). */
export function githubLabels(project: ProjectMapping, labels: readonly string[]): string[] {
  return requesterLabels(labels, {
    reserved: [project.labels.approved, project.labels.rejected, project.labels.pending, 'escalate'],
    reservedPrefixes: ['risk:', 'escalated:'],
    maxLength: MAX_LABEL,
  });
}

/** GitHub's longest issue title. */
const MAX_TITLE = 256;

/** The issue title: the summary on one line, invisible characters shown, within GitHub's 256 characters. */
export function issueTitle(summary: string): string {
  const line = lineText(summary);
  return line.length > MAX_TITLE ? `${cutText(line, MAX_TITLE - 1).text}…` : line || '(no summary)';
}

/**
 * The issue body. Countersign's parts come first and whole: the exact payload and its hash, how
 * to decide, the reviewers and the link. Then everything the agent wrote, each field in a code
 * span or fenced block it cannot leave, and last the hidden marker. Within GitHub's limit,
 * requester text is trimmed first, then the payload is cut (its hash covers all of it).
 */
export function renderIssueBody(request: TicketRequest): string {
  if (request.items) return renderBatchBody({ ...request, items: request.items });
  const { project, approvalUrl } = request;
  const required = request.requiredApprovals ?? project.requiredApprovals;
  const fields = [request.summary, request.details ?? '', request.action, request.requestedBy ?? '', ...request.labels];
  return fitToLimit({
    limit: MAX_BODY,
    size: (body) => body.length,
    payload: payloadJson(request.payload),
    fields,
    render: (payload, [summary, details, action, requestedBy, ...labels]) =>
      [
        '### Payload',
        codeBlock(payload.text, 'json'),
        ...(payload.cut > 0 ? [note(payloadCutNote(payload.cut), approvalUrl)] : []),
        '',
        `**Payload hash** \`${request.payloadHash}\` · **Risk** ${request.risk}`,
        '',
        '### How to decide',
        `- **Approve**: add the label \`${project.labels.approved}\`, or comment \`/approve\``,
        `- **Reject**: add the label \`${project.labels.rejected}\`, or comment \`/reject <reason>\``,
        '',
        `Reviewers: ${mentions(request.reviewers)} — ${required} approval${required === 1 ? '' : 's'} needed${required > 1 ? ' (one `/approve` comment each)' : ''}.`,
        `Closing the issue does not decide it. [The approval in Countersign](${approvalUrl})`,
        '',
        '### The request, as the agent wrote it',
        'Shown as code, exactly as sent: nothing below is written by Countersign.',
        '',
        `- **Action** ${requesterSpan(action!.text)}${noteFor(action!, approvalUrl)}`,
        ...(request.requestedBy !== null ? [`- **Requested by** ${requesterSpan(requestedBy!.text)}${noteFor(requestedBy!, approvalUrl)}`] : []),
        ...(labels.length > 0 ? [`- **Labels** ${labels.map((label) => `${requesterSpan(label.text)}${noteFor(label, approvalUrl)}`).join(' ')}`] : []),
        '',
        '**Summary**',
        '',
        requesterBlock(summary!.text),
        ...(summary!.cut > 0 ? [note(trimNote(summary!.cut), approvalUrl)] : []),
        ...(request.details !== null
          ? ['', '**Details**', '', requesterBlock(details!.text), ...(details!.cut > 0 ? [note(trimNote(details!.cut), approvalUrl)] : [])]
          : []),
        '',
        approvalMarker(request.approvalId),
      ].join('\n'),
  });
}
