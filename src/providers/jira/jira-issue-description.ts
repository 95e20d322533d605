import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import type { TicketRequest } from '../provider-adapter.ts';
import type { AdfDocument, AdfNode } from './jira-issues-like.ts';

type JiraProject = Extract<ProjectMapping, { provider: 'jira' }>;

/** Jira Cloud caps a rich-text field at 32,767 characters; the payload is cut to stay under. */
const MAX_PAYLOAD = 30_000;
const LABEL_PREFIX = 'countersign-';

/** The label every Countersign issue carries: the webhook's JQL filter (`labels = countersign`). */
export const COUNTERSIGN_LABEL = 'countersign';

/**
 * The label that ties an issue to its approval. Labels are searchable by JQL, issue properties
 * are not (PROVIDER-NOTES.md), so a retried create job finds the issue by this label.
 */
export const approvalLabel = (approvalId: string) => `${LABEL_PREFIX}${approvalId}`;

/** The approval id in an issue's labels, if Countersign put one there. */
export function readApprovalLabel(labels: readonly string[] | undefined): string | undefined {
  for (const label of labels ?? []) {
    const match = /^countersign-((?:apr|bat)_[0-9a-z]+)$/i.exec(label);
    if (match) return match[1]!.toLowerCase();
  }
  return undefined;
}

/** Jira labels cannot hold spaces. */
const jiraLabel = (label: string) => label.trim().replace(/\s+/g, '-');

/** The labels an approval's issue carries while pending. */
export function pendingLabels(project: JiraProject, request: Pick<TicketRequest, 'risk' | 'labels'>): string[] {
  return [...new Set([project.labels.pending, `risk:${request.risk}`, ...request.labels].map(jiraLabel).filter(Boolean))];
}

export const text = (value: string, marks?: AdfNode['marks']): AdfNode => ({ type: 'text', text: value, ...(marks ? { marks } : {}) });
export const code = (value: string) => text(value, [{ type: 'code' }]);
const strong = (value: string) => text(value, [{ type: 'strong' }]);
export const paragraph = (...content: AdfNode[]): AdfNode => ({ type: 'paragraph', content });
const heading = (value: string): AdfNode => ({ type: 'heading', attrs: { level: 3 }, content: [text(value)] });
const link = (value: string, href: string) => text(value, [{ type: 'link', attrs: { href } }]);
export const doc = (...content: AdfNode[]): AdfDocument => ({ type: 'doc', version: 1, content });
/** An ADF mention renders as the person's name and notifies them. */
export const mention = (accountId: string): AdfNode => ({ type: 'mention', attrs: { id: accountId } });

/** Markdown details as plain paragraphs: ADF has no Markdown, and a blank line is the one structure kept. */
function detailParagraphs(details: string): AdfNode[] {
  return details
    .split(/\n{2,}/)
    .map((block) => block.trim())
    .filter(Boolean)
    .map((block) => paragraph(...block.split('\n').flatMap((line, i) => (i === 0 ? [text(line)] : [{ type: 'hardBreak' }, text(line)]))));
}

/**
 * A batch's items as an ADF table (issue 7: "a Jira description table"): one row per request
 * with its id, action, summary and payload hash. A reviewer leaves one out with
 * `/reject apr_… <reason>`; the row stays as it was listed.
 */
function batchTable(items: NonNullable<TicketRequest['items']>): AdfNode {
  const cell = (type: 'tableHeader' | 'tableCell', content: AdfNode) => ({ type, attrs: {}, content: [paragraph(content)] });
  const row = (type: 'tableHeader' | 'tableCell', cells: AdfNode[]) => ({ type: 'tableRow', content: cells.map((content) => cell(type, content)) });
  return {
    type: 'table',
    attrs: { isNumberColumnEnabled: true, layout: 'default' },
    content: [
      row('tableHeader', [text('Request'), text('Action'), text('Summary'), text('Payload hash')]),
      ...items.map((item) => row('tableCell', [code(item.approvalId), code(item.action), text(item.summary.replace(/\s+/g, ' ').trim() || '—'), code(item.payloadHash)])),
    ],
  };
}

/** The issue description: what the agent wants to do, the exact payload and its hash, the approval id, how to decide. */
export function renderDescription(request: TicketRequest): AdfDocument {
  const project = request.project as JiraProject;
  const required = request.requiredApprovals ?? project.requiredApprovals;
  let payload = JSON.stringify(request.payload, null, 2) ?? 'null';
  if (payload.length > MAX_PAYLOAD) payload = `${payload.slice(0, MAX_PAYLOAD)}\n… (cut: the payload is too long for a Jira field; its hash covers the whole of it)`;
  return doc(
    paragraph(strong('Action '), code(request.action), text(' · '), strong('Risk '), text(request.risk), ...(request.requestedBy ? [text(' · '), strong('Requested by '), text(request.requestedBy)] : [])),
    ...(request.details ? detailParagraphs(request.details) : []),
    ...(request.items?.length
      ? [
          heading(`${request.items.length} requests, decided together`),
          batchTable(request.items),
        ]
      : []),
    heading('Payload'),
    { type: 'codeBlock', attrs: { language: 'json' }, content: [text(payload)] },
    paragraph(strong('Payload hash '), code(request.payloadHash)),
    paragraph(strong('Approval '), code(request.approvalId), text(' — '), link('open in Countersign', request.approvalUrl)),
    heading('How to decide'),
    {
      type: 'bulletList',
      content: [
        { type: 'listItem', content: [paragraph(strong('Approve: '), text('move the issue to '), code(project.jira.approvedStatus), text(', or comment '), code('/approve'))] },
        { type: 'listItem', content: [paragraph(strong('Reject: '), text('move the issue to '), code(project.jira.rejectedStatus), text(', or comment '), code('/reject <reason>'))] },
        ...(request.items?.length ? [{ type: 'listItem', content: [paragraph(strong('Leave one request out: '), text('comment '), code('/reject apr_… <reason>'), text(' before approving; it is rejected.'))] }] : []),
      ],
    },
    paragraph(
      text('Reviewers: '),
      ...request.reviewers.flatMap((accountId, i) => (i === 0 ? [mention(accountId)] : [text(', '), mention(accountId)])),
      text(` — ${required} approval${required === 1 ? '' : 's'} needed${required > 1 ? ' (one /approve comment each)' : ''}. A move by anyone else is put back.`),
    ),
  );
}

/**
 * The plain text of a comment body: ADF from REST v3, or the wiki-markup string webhooks (and
 * Data Center) send.
 */
export function plainText(body: unknown): string {
  if (typeof body === 'string') return body;
  if (!body || typeof body !== 'object') return '';
  const node = body as AdfNode;
  if (node.type === 'text') return node.text ?? '';
  if (node.type === 'hardBreak') return '\n';
  const inner = (node.content ?? []).map(plainText).join('');
  return node.type === 'paragraph' || node.type === 'heading' || node.type === 'codeBlock' ? `${inner}\n` : inner;
}
