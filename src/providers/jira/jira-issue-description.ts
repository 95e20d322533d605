import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import { fitToLimit, payloadCutNote, trimNote, type Fitted } from '../fit-to-limit.ts';
import { requesterLabels } from '../requester-labels.ts';
import { blockText, cutText, lineText, payloadJson } from '../requester-text.ts';
import type { TicketRequest } from '../provider-adapter.ts';
import type { AdfDocument, AdfNode } from './jira-issues-like.ts';

type JiraProject = Extract<ProjectMapping, { provider: 'jira' }>;

/**
 * Jira Cloud refuses a description or comment over 32,767 characters (JRACLOUD-68949). Measured
 * on the ADF document's JSON, the longest form of it: Jira stores ADF as JSON, and the JSON is
 * never shorter than the text it holds, so a document within the limit by this count is within
 * it however Jira counts.
 */
export const MAX_RICH_TEXT = 32_767;
/** Jira's longest summary and label. */
const MAX_SUMMARY = 255;
const MAX_LABEL = 255;
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

/** The labels an approval's issue carries while pending: the mapping's pending label, the risk, and the request's own (see {@link jiraLabels}). */
export function pendingLabels(project: JiraProject, request: Pick<TicketRequest, 'risk' | 'labels'>): string[] {
  return [...new Set([...[project.labels.pending, `risk:${request.risk}`].map(jiraLabel), ...jiraLabels(project, request.labels)])];
}

/** Label families Countersign keeps on Jira issues for itself. */
const OWN_PREFIXES = ['risk:', 'escalated:', COUNTERSIGN_LABEL];

/** Whether a label is one of Countersign's own on a Jira issue (`ProviderAdapter.ownsLabel`). */
export const isOwnJiraLabel = (label: string) => OWN_PREFIXES.some((prefix) => label.startsWith(prefix));

/**
 * The request's own labels as the issue may carry them: none that Countersign sets or searches
 * for itself (decision, pending, `expired`, `cancelled`, `escalate`, `escalated:N`, `risk:*`, and
 * above all `countersign-apr_…`, which would tie the issue to another approval).
 */
export function jiraLabels(project: JiraProject, labels: readonly string[]): string[] {
  return requesterLabels(labels, {
    reserved: [project.labels.approved, project.labels.rejected, project.labels.pending, 'expired', 'cancelled', 'escalate'].map(jiraLabel),
    reservedPrefixes: OWN_PREFIXES,
    maxLength: MAX_LABEL,
    shape: jiraLabel,
  });
}

/** The issue summary: the request's summary on one line (Jira refuses line breaks there), invisible characters shown, at most 255 characters. */
export function issueSummary(summary: string): string {
  const line = lineText(summary);
  return line.length > MAX_SUMMARY ? `${cutText(line, MAX_SUMMARY - 1).text}…` : line || '(no summary)';
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

/**
 * Requester text as ADF: only unmarked `text` nodes, alone in a paragraph, a table cell or a
 * `codeBlock`. ADF is a tree, not markup, so text cannot open structure; what could still reach
 * a reader is marks (links, code), `mention` / `inlineCard` nodes, or Jira turning text into
 * them, and Countersign builds none of those from requester text. ADF refuses empty text nodes.
 */
const plain = (value: string): AdfNode[] => (value ? [text(value)] : []);
/** Multi-line requester text (summary, details) as a code block: line breaks kept, nothing interpreted. */
export const requesterBlock = (value: string): AdfNode => ({ type: 'codeBlock', attrs: {}, content: plain(blockText(value)) });
const requesterLine = (value: string): AdfNode[] => plain(lineText(value));

/** Countersign's note after text that was cut, with the link to the whole request. */
const cutNote = (note: string, url: string) => paragraph(text(`(${note} `), link(url, url), text(')'));
const trimmed = (field: Fitted, url: string): AdfNode[] => (field.cut > 0 ? [text(' '), ...cutNote(trimNote(field.cut), url).content!] : []);

/**
 * A batch's items as an ADF table (issue 7: "a Jira description table"): one row per request
 * with its id and payload hash (Countersign's, as code) and the agent's action and summary (plain
 * text). A reviewer leaves one out with `/reject apr_… <reason>`; the row stays as it was listed.
 */
function batchTable(items: NonNullable<TicketRequest['items']>, fields: readonly Fitted[], url: string): AdfNode {
  const cell = (type: 'tableHeader' | 'tableCell', content: AdfNode[]) => ({ type, attrs: {}, content: [paragraph(...content)] });
  const row = (type: 'tableHeader' | 'tableCell', cells: AdfNode[][]) => ({ type: 'tableRow', content: cells.map((content) => cell(type, content)) });
  return {
    type: 'table',
    attrs: { isNumberColumnEnabled: true, layout: 'default' },
    content: [
      row('tableHeader', [[text('Request')], [text('Payload hash')], [text('Action')], [text('Summary')]]),
      ...items.map((item, i) => {
        const action = fields[2 * i]!;
        const summary = fields[2 * i + 1]!;
        return row('tableCell', [[code(item.approvalId)], [code(item.payloadHash)], [...requesterLine(action.text), ...trimmed(action, url)], [...requesterLine(summary.text), ...trimmed(summary, url)]]);
      }),
    ],
  };
}

/**
 * The issue description. Countersign's parts come first and whole: the batch's items (ids and
 * hashes), the exact payload and its hash, the approval link, how to decide, the reviewers. Then
 * everything the agent wrote, as plain text or code blocks. Within Jira's limit, requester text is
 * trimmed first, then the payload is cut (its hash covers all of it).
 */
export function renderDescription(request: TicketRequest): AdfDocument {
  const project = request.project as JiraProject;
  const required = request.requiredApprovals ?? project.requiredApprovals;
  const items = request.items ?? [];
  const url = request.approvalUrl;
  return fitToLimit({
    limit: MAX_RICH_TEXT,
    size: (document) => JSON.stringify(document).length,
    payload: payloadJson(request.payload),
    fields: [request.summary, request.details ?? '', request.action, request.requestedBy ?? '', ...request.labels, ...items.flatMap((item) => [item.action, item.summary])],
    render: (payload, fields) => {
      const [summary, details, action, requestedBy] = fields as [Fitted, Fitted, Fitted, Fitted];
      const labels = fields.slice(4, 4 + request.labels.length);
      return doc(
        ...(items.length > 0 ? [heading(`${items.length} requests, decided together`), batchTable(items, fields.slice(4 + request.labels.length), url)] : []),
        heading('Payload'),
        { type: 'codeBlock', attrs: { language: 'json' }, content: plain(payload.text) },
        ...(payload.cut > 0 ? [cutNote(payloadCutNote(payload.cut), url)] : []),
        paragraph(strong('Payload hash '), code(request.payloadHash), text(' · '), strong('Risk '), text(request.risk)),
        paragraph(strong('Approval '), code(request.approvalId), text(' — '), link('open in Countersign', url)),
        heading('How to decide'),
        {
          type: 'bulletList',
          content: [
            { type: 'listItem', content: [paragraph(strong('Approve: '), text('move the issue to '), code(project.jira.approvedStatus), text(', or comment '), code('/approve'))] },
            { type: 'listItem', content: [paragraph(strong('Reject: '), text('move the issue to '), code(project.jira.rejectedStatus), text(', or comment '), code('/reject <reason>'))] },
            ...(items.length > 0 ? [{ type: 'listItem', content: [paragraph(strong('Leave one request out: '), text('comment '), code('/reject apr_… <reason>'), text(' before approving; it is rejected.'))] }] : []),
          ],
        },
        paragraph(
          text('Reviewers: '),
          ...request.reviewers.flatMap((accountId, i) => (i === 0 ? [mention(accountId)] : [text(', '), mention(accountId)])),
          text(` — ${required} approval${required === 1 ? '' : 's'} needed${required > 1 ? ' (one /approve comment each)' : ''}. A move by anyone else is put back.`),
        ),
        heading('The request, as the agent wrote it'),
        paragraph(text('Shown exactly as sent: nothing below is written by Countersign.')),
        paragraph(strong('Action: '), ...requesterLine(action.text), ...trimmed(action, url)),
        ...(request.requestedBy !== null ? [paragraph(strong('Requested by: '), ...requesterLine(requestedBy.text), ...trimmed(requestedBy, url))] : []),
        ...(labels.length > 0 ? [paragraph(strong('Labels: '), ...labels.flatMap((label, i) => [...(i > 0 ? [text(', ')] : []), ...requesterLine(label.text), ...trimmed(label, url)]))] : []),
        paragraph(strong('Summary')),
        requesterBlock(summary.text),
        ...(summary.cut > 0 ? [cutNote(trimNote(summary.cut), url)] : []),
        ...(request.details !== null ? [paragraph(strong('Details')), requesterBlock(details.text), ...(details.cut > 0 ? [cutNote(trimNote(details.cut), url)] : [])] : []),
      );
    },
  });
}

/** Whether a value is an ADF document (REST v3), rather than the wiki-markup string REST v2 and Data Center give. */
export function isAdfDocument(value: unknown): value is AdfDocument {
  const node = value as Partial<AdfNode> | null;
  return !!node && typeof node === 'object' && node.type === 'doc' && Array.isArray(node.content);
}

/** The text of a node's own `text` children, no deeper: a heading or code block holds nothing else. */
const ownText = (node: AdfNode) => children(node).map((child) => (child?.type === 'text' && typeof child.text === 'string' ? child.text : '')).join('');
/** A node's children; a webhook body is only JSON, so `content` may be anything. */
const children = (node: AdfNode): (AdfNode | null | undefined)[] => (Array.isArray(node.content) ? node.content : []);

/**
 * The payload block as the description shows it now (a reviewer may have edited it in Jira):
 * the code block that directly follows the first top-level `Payload` heading, where
 * {@link renderDescription} puts it. Requester text can never be that block: ADF is a tree, not
 * markup, and Countersign writes requester text only as text nodes inside paragraphs and code
 * blocks, so no text an agent sends becomes a heading, however it reads. Only top-level nodes
 * and that heading's and block's own children are looked at, so a deep or odd tree costs
 * nothing. `undefined` when the description is not ADF (wiki markup is not parsed: a `{code}`
 * in requester text could end a block there), when the structure is not Countersign's, when the
 * block holds anything but text, when it is larger than Jira allows a description to be, or
 * when Countersign cut the payload to fit (the block is then not the whole payload and cannot
 * be an edit of it).
 */
export function readPayloadBlock(description: unknown): string | undefined {
  if (!isAdfDocument(description)) return undefined;
  const nodes = children(description);
  const at = nodes.findIndex((node) => node?.type === 'heading' && ownText(node).trim() === 'Payload');
  const block = at < 0 ? undefined : nodes[at + 1];
  if (block?.type !== 'codeBlock') return undefined;
  if (!children(block).every((child) => child?.type === 'text' && typeof child.text === 'string' && !child.marks?.length)) return undefined;
  const text = ownText(block);
  if (text.length > MAX_RICH_TEXT) return undefined;
  const next = nodes[at + 2];
  if (next?.type === 'paragraph' && ownText(next).startsWith(`(${payloadCutNote(0).split(' ')[0]}`)) return undefined;
  return text;
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
