import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { issueSummary, jiraLabels, MAX_RICH_TEXT, pendingLabels, plainText, readPayloadBlock, renderDescription } from '../../../../src/providers/jira/jira-issue-description.ts';
import type { AdfNode } from '../../../../src/providers/jira/jira-issues-like.ts';
import type { TicketRequest } from '../../../../src/providers/provider-adapter.ts';
import { projectMappingSchema } from '../../../../src/projects/mapping-schema.ts';
import { blockText, lineText, payloadJson } from '../../../../src/providers/requester-text.ts';
import { hostileItems, hostileRequest } from '../../../helpers/hostile-text.ts';

const ALICE = '5b10a2844c20165700ede21g';
const project = projectMappingSchema.parse({ key: 'ops', provider: 'jira', jira: { project: 'OPS', issueType: 'Task', approvedStatus: 'Approved', rejectedStatus: 'Rejected' }, reviewers: [ALICE] });
if (project.provider !== 'jira') throw new Error('expected a Jira mapping');
const hash = `sha256:${'a'.repeat(64)}`;
const url = 'http://countersign.example/v1/approvals/apr_1';

type Fields = Pick<TicketRequest, 'summary' | 'details' | 'action' | 'requestedBy' | 'labels' | 'payload'>;
/** `x` in front: ADF has no empty text node, so a field is never left out. */
const present = (fields: Fields): Fields => ({ ...fields, summary: `x${fields.summary}`, action: `x${fields.action}`, details: fields.details === null ? null : `x${fields.details}`, requestedBy: fields.requestedBy === null ? null : `x${fields.requestedBy}`, labels: fields.labels.map((l) => `x${l}`) });
const single = (fields: Fields, items?: TicketRequest['items']): TicketRequest => ({ approvalId: 'apr_1', project, payloadHash: hash, risk: 'high', reviewers: [ALICE], approvalUrl: url, ...fields, ...(items ? { items } : {}) });
const benign = (fields: Fields): Fields => ({ summary: 'x', details: fields.details === null ? null : 'x', action: 'x', requestedBy: fields.requestedBy === null ? null : 'x', labels: fields.labels.map(() => 'x'), payload: fields.payload });

/** The document with the text of unmarked text nodes blanked: types, attributes, marks and Countersign's marked text are all that is left. */
const skeleton = (node: AdfNode): unknown => ({ ...node, ...(node.type === 'text' && !node.marks ? { text: '' } : {}), ...(node.content ? { content: node.content.map(skeleton) } : {}) });
function* walk(node: AdfNode): Generator<AdfNode> {
  yield node;
  for (const child of node.content ?? []) yield* walk(child);
}
const codeBlocks = (node: AdfNode) => [...walk(node)].filter((n) => n.type === 'codeBlock').map((n) => (n.content ?? []).map((t) => t.text).join(''));

describe('Jira description against hostile requester text', () => {
  it('has the same structure, marks, links and mentions whatever the agent writes in any field', () => {
    fc.assert(
      fc.property(hostileRequest.map(present), (fields) => {
        expect(skeleton(renderDescription(single(fields)))).toEqual(skeleton(renderDescription(single(benign(fields)))));
      }),
      { numRuns: 150 },
    );
  });

  it('puts requester text only in unmarked text nodes, and nothing in it becomes a link, a mention or another node', () => {
    fc.assert(
      fc.property(hostileRequest.map(present), (fields) => {
        const nodes = [...walk(renderDescription(single(fields)))];
        const allowed = new Set(['doc', 'paragraph', 'text', 'heading', 'codeBlock', 'bulletList', 'listItem', 'mention']);
        expect(nodes.every((n) => allowed.has(n.type))).toBe(true);
        expect(nodes.filter((n) => n.type === 'mention').map((n) => n.attrs?.id)).toEqual([ALICE]);
        const links = nodes.flatMap((n) => n.marks ?? []).filter((m) => m.type === 'link');
        expect(links.map((m) => m.attrs?.href)).toEqual([url]);
        // Marks (strong, code, link) only on Countersign's own words: the same ones as for a harmless request.
        const marked = (request: TicketRequest) => [...walk(renderDescription(request))].filter((n) => n.type === 'text' && n.marks).map((n) => n.text);
        expect(marked(single(fields))).toEqual(marked(single(benign(fields))));
        expect(marked(single(fields))).toEqual(expect.arrayContaining(['Payload hash ', hash, 'open in Countersign']));
      }),
      { numRuns: 100 },
    );
  });

  it('puts the payload and its hash before the request, shows the exact payload, and each field as sent', () => {
    fc.assert(
      fc.property(hostileRequest.map(present), (fields) => {
        const description = renderDescription(single(fields));
        const text = plainText(description);
        const blocks = (description.content ?? []).map(plainText);
        const order = ['Payload\n', `Payload hash ${hash}`, 'How to decide', 'Reviewers: ', 'The request, as the agent wrote it'].map((start) => blocks.findIndex((block) => block.startsWith(start)));
        expect(order.every((index) => index >= 0)).toBe(true);
        expect([...order].sort((a, b) => a - b)).toEqual(order);
        const [payload, summary, details] = codeBlocks(description);
        expect(JSON.parse(payload!)).toEqual(JSON.parse(JSON.stringify(fields.payload) ?? 'null'));
        expect(summary).toBe(blockText(fields.summary));
        if (fields.details !== null) expect(details).toBe(blockText(fields.details));
        expect(text).toContain(`Action: ${lineText(fields.action)}`);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps a batch table of hostile summaries and actions as plain text cells', () => {
    fc.assert(
      fc.property(hostileItems, (raw) => {
        const items = raw.map((item, i) => ({ approvalId: `apr_0${i}`, payloadHash: hash, summary: `x${item.summary}`, action: `x${item.action}` }));
        const request = { ...single({ summary: 'batch', details: null, action: 'batch', requestedBy: null, labels: [], payload: items }, items), approvalId: 'bat_01' };
        const plain = { ...request, items: items.map((item) => ({ ...item, summary: 'x', action: 'x' })) };
        expect(skeleton(renderDescription(request))).toEqual(skeleton(renderDescription(plain)));
        const cells = [...walk(renderDescription(request))].filter((n) => n.type === 'tableCell');
        expect(cells).toHaveLength(items.length * 4);
      }),
      { numRuns: 100 },
    );
  });
});

describe('Jira limits', () => {
  const size = (request: TicketRequest) => JSON.stringify(renderDescription(request)).length;

  it('trims huge details to fit 32,767 characters, says so with a link, and keeps the payload and hash', () => {
    const details = '"\\'.repeat(40_000);
    const payload = { to: 'ops@acme.example' };
    const request = single({ summary: 'Send it', details, action: 'send_email', requestedBy: 'agent-7', labels: [], payload });
    expect(size(request)).toBeLessThanOrEqual(MAX_RICH_TEXT);
    const description = renderDescription(request);
    const [shownPayload, , shownDetails] = codeBlocks(description);
    expect(JSON.parse(shownPayload!)).toEqual(payload);
    const text = plainText(description);
    expect(text).toContain(`Payload hash ${hash}`);
    expect(text).toContain(`(trimmed: ${(details.length - shownDetails!.length).toLocaleString('en-US')} characters; full request at ${url})`);
    expect(text).toContain('Action: send_email');
  });

  it('cuts a payload too long for Jira after the requester text, and keeps the hash', () => {
    const payload = { rows: Array.from({ length: 5_000 }, (_, i) => ({ i, note: 'quote " and \\ backslash' })) };
    const request = single({ summary: 'Import', details: 'd'.repeat(30_000), action: 'import_rows', requestedBy: null, labels: [], payload });
    expect(size(request)).toBeLessThanOrEqual(MAX_RICH_TEXT);
    const description = renderDescription(request);
    const [shownPayload] = codeBlocks(description);
    expect(payloadJson(payload).startsWith(shownPayload!)).toBe(true);
    const text = plainText(description);
    expect(text).toMatch(/\(cut: [\d,]+ more characters of the payload are not shown here; the payload hash covers all of it; full request at http/);
    expect(text).toContain(`Payload hash ${hash}`);
    expect(text).toContain('Action: import_rows');
  });

  it('makes a summary of one line and at most 255 characters', () => {
    const summary = issueSummary(`Approve\nthis\u202E ${'long '.repeat(100)}`);
    expect(summary.length).toBeLessThanOrEqual(255);
    expect(summary).not.toMatch(/[\n\u202E]/);
    expect(summary.startsWith('Approve this[U+202E] long')).toBe(true);
  });

  it('gives labels without spaces and none that impersonates a Countersign label or claims another approval', () => {
    expect(jiraLabels(project, ['needs review', 'countersign-apr_other', 'Countersign', 'approved', 'Expired', 'cancelled', 'escalate', 'escalated:1', 'risk:low', 'approval:pending', 'ok'])).toEqual(['needs-review', 'ok']);
    expect(pendingLabels(project, { risk: 'low', labels: ['x'.repeat(300)] }).map((l) => l.length)).toEqual([16, 8, 255]);
  });
});

describe('the payload block a reviewer may edit in the description', () => {
  it('is read from Countersign’s own structure only: no requester text, in any field, is taken for it', () => {
    fc.assert(
      fc.property(hostileRequest, (fields) => {
        const description = renderDescription(single(present(fields)));
        expect(readPayloadBlock(description)).toBe(payloadJson(fields.payload));
      }),
      { numRuns: 200 },
    );
  });

  it('is the block under the first Payload heading, as a reviewer left it, and nothing when the structure is not Countersign’s', () => {
    const description = renderDescription(single({ summary: 'Refund', details: null, action: 'refund', requestedBy: null, labels: [], payload: { amount: 80 } }));
    const nodes = description.content!;
    const at = nodes.findIndex((node) => node.type === 'heading');
    const withBlock = (block: AdfNode) => ({ ...description, content: nodes.map((node, i) => (i === at + 1 ? block : node)) });
    expect(readPayloadBlock(withBlock({ type: 'codeBlock', attrs: { language: 'json' }, content: [{ type: 'text', text: '{"amount": 60}' }] }))).toBe('{"amount": 60}');
    // A second "Payload" section a reviewer (or anyone) adds further down is not read.
    const forged = { ...description, content: [...nodes, { type: 'heading', attrs: { level: 3 }, content: [{ type: 'text', text: 'Payload' }] }, { type: 'codeBlock', content: [{ type: 'text', text: '{"amount": 1}' }] }] };
    expect(readPayloadBlock(forged)).toBe(payloadJson({ amount: 80 }));
    // Odd nodes inside the block, a block that is gone, a non-ADF description, a hostile tree.
    expect(readPayloadBlock(withBlock({ type: 'codeBlock', content: [{ type: 'text', text: '{' }, { type: 'mention', attrs: { id: 'x' } }, { type: 'text', text: '}' }] }))).toBeUndefined();
    expect(readPayloadBlock(withBlock({ type: 'codeBlock', content: [{ type: 'text', text: '{}', marks: [{ type: 'link', attrs: { href: 'https://evil.example' } }] }] }))).toBeUndefined();
    expect(readPayloadBlock(withBlock({ type: 'paragraph', content: [{ type: 'text', text: '{"amount": 60}' }] }))).toBeUndefined();
    expect(readPayloadBlock('h3. Payload\n{code:json}{"amount": 60}{code}')).toBeUndefined();
    expect(readPayloadBlock({ type: 'doc', version: 1, content: [null, 'x', { type: 'heading', content: 'Payload' }, { type: 'heading', content: [{ type: 'text', text: 'Payload' }] }, { type: 'codeBlock', content: [null] }] })).toBeUndefined();
    let deep: AdfNode = { type: 'text', text: '{}' };
    for (let i = 0; i < 100_000; i++) deep = { type: 'paragraph', content: [deep] };
    expect(readPayloadBlock({ type: 'doc', version: 1, content: [deep, ...nodes] })).toBe(payloadJson({ amount: 80 }));
    expect(readPayloadBlock(withBlock({ type: 'codeBlock', content: [{ type: 'text', text: 'x'.repeat(MAX_RICH_TEXT + 1) }] }))).toBeUndefined();
  });

  it('is nothing when Countersign cut the payload to fit', () => {
    const payload = { rows: Array.from({ length: 5_000 }, (_, i) => ({ i })) };
    expect(readPayloadBlock(renderDescription(single({ summary: 'Import', details: null, action: 'import_rows', requestedBy: null, labels: [], payload })))).toBeUndefined();
  });
});
