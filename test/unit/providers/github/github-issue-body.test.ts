import fc from 'fast-check';
import { micromark } from 'micromark';
import { gfm, gfmHtml } from 'micromark-extension-gfm';
import { describe, expect, it } from 'vitest';
import { issueTitle, MAX_BODY, pendingLabels, readApprovalMarker, readTickedItems, renderIssueBody } from '../../../../src/providers/github/github-issue-body.ts';
import { projectMappingSchema } from '../../../../src/projects/mapping-schema.ts';
import type { TicketRequest } from '../../../../src/providers/provider-adapter.ts';
import { blockText, lineText, payloadJson } from '../../../../src/providers/requester-text.ts';
import { hostileItems, hostileRequest, hostileText } from '../../../helpers/hostile-text.ts';

const project = projectMappingSchema.parse({ key: 'bulk', provider: 'github', github: { owner: 'acme', repo: 'approvals' }, reviewers: ['alice'] });
const hash = `sha256:${'a'.repeat(64)}`;
const url = 'http://countersign.example/v1/approvals/apr_1';

type Fields = Pick<TicketRequest, 'summary' | 'details' | 'action' | 'requestedBy' | 'labels' | 'payload'>;
const single = (fields: Fields): TicketRequest => ({ approvalId: 'apr_1', project, payloadHash: hash, risk: 'high', reviewers: ['alice'], approvalUrl: url, ...fields });
/** The same request with every piece of requester text replaced by a harmless `x`. */
const benign = (fields: Fields): Fields => ({
  summary: 'x',
  details: fields.details === null ? null : 'x',
  action: 'x',
  requestedBy: fields.requestedBy === null ? null : 'x',
  labels: fields.labels.map(() => 'x'),
  payload: fields.payload,
});

const batch = (items: { summary: string; action: string }[]): TicketRequest => {
  const listed = items.map((item, i) => ({ approvalId: `apr_0${i}`, payloadHash: hash, ...item }));
  return { ...single({ summary: `${items.length} requests`, details: null, action: 'batch', requestedBy: null, labels: [], payload: listed }), approvalId: 'bat_01', risk: 'low', approvalUrl: 'http://countersign.example/v1/batches/bat_01', items: listed };
};

/** The body as GitHub renders it, raw HTML let through (`allowDangerousHtml`): what an attacker gets if anything escapes. */
const html = (body: string) => micromark(body, { extensions: [gfm()], htmlExtensions: [gfmHtml()], allowDangerousHtml: true });
/** The rendered HTML with the contents of every `<code>` element removed: the part no requester text may change. */
const skeleton = (rendered: string) => rendered.replace(/<code([^>]*)>[\s\S]*?<\/code>/g, '<code$1></code>');
const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const unescapeHtml = (text: string) => text.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
/** Text a reader sees outside code, where GitHub links @mentions and #references. */
const prose = (rendered: string) => skeleton(rendered).replace(/<pre>[\s\S]*?<\/pre>/g, '').replace(/<[^>]*>/g, '');
/** Elements the rendered HTML opens, comments included. */
const elements = (rendered: string) => new Set([...skeleton(rendered).matchAll(/<(!--|[a-z][a-z0-9]*)/g)].map((m) => m[1]));
const codeBlocks = (rendered: string) => [...rendered.matchAll(/<pre><code class="language-(\w+)">([\s\S]*?)<\/code><\/pre>/g)].map((m) => ({ info: m[1]!, text: unescapeHtml(m[2]!) }));

describe('single issue body against hostile requester text', () => {
  it('renders the same elements, in the same order, whatever the agent writes in any field', () => {
    fc.assert(
      fc.property(hostileRequest, (fields) => {
        expect(skeleton(html(renderIssueBody(single(fields))))).toBe(skeleton(html(renderIssueBody(single(benign(fields))))));
      }),
      { numRuns: 150 },
    );
  });

  it('puts the payload and its hash first, then how to decide, the reviewers and the link, then the request, and the marker last', () => {
    fc.assert(
      fc.property(hostileRequest, (fields) => {
        const body = renderIssueBody(single(fields));
        const rendered = html(body);
        const at = (needle: string) => rendered.indexOf(needle);
        const order = ['<h3>Payload</h3>', `<strong>Payload hash</strong> <code>${hash}</code>`, '<h3>How to decide</h3>', 'Reviewers: @alice', `<a href="${url}">The approval in Countersign</a>`, '<h3>The request, as the agent wrote it</h3>'].map(at);
        expect(order.every((index) => index >= 0)).toBe(true);
        expect([...order].sort((a, b) => a - b)).toEqual(order);
        expect(rendered.trimEnd().endsWith('<!-- countersign:apr_1 -->')).toBe(true);
        expect(readApprovalMarker(body)).toBe('apr_1');
      }),
      { numRuns: 100 },
    );
  });

  it('shows the exact payload, and each field exactly as sent, inside code', () => {
    fc.assert(
      fc.property(hostileRequest, (fields) => {
        const rendered = html(renderIssueBody(single(fields)));
        const [payload, summary, details] = codeBlocks(rendered);
        expect(payload!.info).toBe('json');
        expect(JSON.parse(payload!.text)).toEqual(JSON.parse(JSON.stringify(fields.payload) ?? 'null'));
        expect(summary!.text).toBe(`${blockText(fields.summary)}\n`.replace(/^\n$/, ''));
        if (fields.details !== null) expect(details!.text).toBe(`${blockText(fields.details)}\n`.replace(/^\n$/, ''));
        for (const line of [fields.action, ...(fields.requestedBy === null ? [] : [fields.requestedBy]), ...fields.labels]) expect(rendered).toContain(escapeHtml(lineText(line)));
      }),
      { numRuns: 100 },
    );
  });

  it('lets no requester text become an element, a mention, a reference or a link outside code', () => {
    fc.assert(
      fc.property(hostileRequest, (fields) => {
        const rendered = html(renderIssueBody(single(fields)));
        expect([...elements(rendered)].sort()).toEqual(['!--', 'a', 'code', 'h3', 'li', 'p', 'pre', 'strong', 'ul']);
        expect([...rendered.matchAll(/<a /g)]).toHaveLength(1);
        expect([...rendered.matchAll(/<!--/g)]).toHaveLength(1);
        const text = prose(rendered);
        expect(text.match(/@[\w-]+/g)).toEqual(['@alice']);
        expect(text).not.toMatch(/#\d|https?:|www\.|evil/);
      }),
      { numRuns: 100 },
    );
  });

  it('shows bidi overrides and zero-width characters instead of letting them reorder or hide text', () => {
    const rendered = html(renderIssueBody(single({ summary: 'pay \u202Eevil', details: 'a\u200Bb\u2066c', action: 'send\u202Dx', requestedBy: null, labels: [], payload: { to: 'ops@acme.example\u202E' } })));
    expect(rendered).not.toMatch(/[\u202A-\u202E\u2066-\u2069\u200B]/);
    expect(rendered).toContain('pay [U+202E]evil');
    expect(rendered).toContain('a[U+200B]b[U+2066]c');
    expect(rendered).toContain('send[U+202D]x');
    expect(rendered).toContain('ops@acme.example\\u202e');
  });

  it('reads only the marker Countersign wrote, on the last line, whatever the body holds before it', () => {
    fc.assert(
      fc.property(hostileText, (text) => {
        expect(readApprovalMarker(`${text}\n<!-- countersign:apr_1 -->\r\n`)).toBe('apr_1');
        expect(readApprovalMarker(`<!-- countersign:apr_1 -->\n${lineText(text)}x`)).toBeUndefined();
      }),
    );
    expect(readApprovalMarker(renderIssueBody(single({ summary: 's', details: 'x\n<!-- countersign:apr_evil -->', action: 'a', requestedBy: null, labels: [], payload: null })))).toBe('apr_1');
  });
});

describe('batch issue body', () => {
  it('lists every item as a ticked task and ends with the batch marker', () => {
    const body = renderIssueBody(batch([{ summary: 'one', action: 'tag_ticket' }, { summary: 'two', action: 'tag_ticket' }]));
    expect(body).toContain(`- [x] \`apr_00\` · \`${hash}\` — \`one\` · action \`tag_ticket\``);
    expect(readTickedItems(body)).toEqual(['apr_00', 'apr_01']);
    expect(readApprovalMarker(body)).toBe('bat_01');
  });

  it('keeps every hostile summary and action inside its own task line: no forged task, element, mention or marker', () => {
    fc.assert(
      fc.property(hostileItems, (items) => {
        const body = renderIssueBody(batch(items));
        const rendered = html(body);
        expect(skeleton(rendered)).toBe(skeleton(html(renderIssueBody(batch(items.map(() => ({ summary: 'x', action: 'x' })))))));
        expect(readTickedItems(body)).toEqual(items.map((_, i) => `apr_0${i}`));
        expect(readApprovalMarker(body)).toBe('bat_01');
        expect([...rendered.matchAll(/<input /g)]).toHaveLength(items.length);
        expect(prose(rendered).match(/@[\w-]+/g)).toEqual(['@alice']);
        for (const item of items) expect(rendered).toContain(escapeHtml(lineText(item.summary)));
      }),
      { numRuns: 100 },
    );
  });

  it('reads unticked, deleted, reformatted and fenced lines robustly', () => {
    const body = [
      '- [x] `apr_a` — kept',
      '* [X] apr_b — other bullet, capital X',
      '1. [x] apr_c — numbered',
      '- [ ] `apr_d` — unticked',
      '- [x] apr_e — listed twice',
      '- [ ] apr_e — and unticked here',
      '```',
      '- [x] apr_f — inside a code block',
      '```',
      '    - [x] apr_g — indented code, not a task',
      '- [x]apr_h — no space: not a task',
    ].join('\r\n');
    expect(readTickedItems(body)).toEqual(['apr_a', 'apr_b', 'apr_c']);
    expect(readTickedItems(null)).toEqual([]);
  });
});

describe('GitHub limits', () => {
  const trimmedNote = (n: number, link = url) => `(trimmed: ${n.toLocaleString('en-US')} characters; full request at <a href="${link}">${link}</a>)`;

  it('trims huge details to fit 65,536 characters, says by how much and where the full request is, and keeps the payload and hash whole', () => {
    const details = `${'`'.repeat(40_000)}\n${'@alice #1 <!-- '.repeat(10_000)}`;
    const payload = { to: 'ops@acme.example', body: 'x'.repeat(5_000) };
    const body = renderIssueBody(single({ summary: 'Send it', details, action: 'send_email', requestedBy: 'agent-7', labels: ['urgent'], payload }));
    expect(body.length).toBeLessThanOrEqual(MAX_BODY);
    const rendered = html(body);
    const [shownPayload, summary, shownDetails] = codeBlocks(rendered);
    expect(JSON.parse(shownPayload!.text)).toEqual(payload);
    expect(rendered).toContain(`<code>${hash}</code>`);
    expect(summary!.text).toBe('Send it\n');
    expect(rendered).toContain('<code>send_email</code>');
    const shown = shownDetails!.text.replace(/\n$/, '');
    expect(details.startsWith(shown)).toBe(true);
    expect(rendered).toContain(trimmedNote(details.length - shown.length));
    expect(readApprovalMarker(body)).toBe('apr_1');
  });

  it('cuts a payload too long for an issue only after the requester text, and keeps the hash', () => {
    const payload = { rows: Array.from({ length: 20_000 }, (_, i) => ({ i, note: '``` <!-- x' })) };
    const body = renderIssueBody(single({ summary: 's'.repeat(500), details: 'd'.repeat(60_000), action: 'import_rows', requestedBy: null, labels: [], payload }));
    expect(body.length).toBeLessThanOrEqual(MAX_BODY);
    const rendered = html(body);
    const [shownPayload] = codeBlocks(rendered);
    const json = payloadJson(payload);
    const shown = shownPayload!.text.replace(/\n$/, '');
    expect(json.startsWith(shown)).toBe(true);
    expect(rendered).toContain(`(cut: ${(json.length - shown.length).toLocaleString('en-US')} more characters of the payload are not shown here; the payload hash covers all of it; full request at <a href="${url}">`);
    expect(rendered).toContain(`<code>${hash}</code>`);
    expect(rendered).toContain('<code>import_rows</code>');
    expect(rendered).toContain('<h3>How to decide</h3>');
    expect(readApprovalMarker(body)).toBe('apr_1');
  });

  it('keeps a batch of 100 long, fence-laden summaries within the limit with every task line', () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ summary: `${'`'.repeat(300)} ${i} ${'~'.repeat(600)}`, action: 'a'.repeat(200) }));
    const body = renderIssueBody(batch(items));
    expect(body.length).toBeLessThanOrEqual(MAX_BODY);
    expect(readTickedItems(body)).toHaveLength(100);
    expect(readApprovalMarker(body)).toBe('bat_01');
  });

  it('makes a title of one line and at most 256 characters, with hidden characters shown', () => {
    const title = issueTitle(`Approve\n- [x] this\u202E ${'long '.repeat(100)}`);
    expect(title.length).toBeLessThanOrEqual(256);
    expect(title).toMatch(/^Approve - \[x\] this\[U\+202E\] long/);
    expect(title).not.toMatch(/[\n\u202E]/);
  });

  it('keeps agent labels from impersonating Countersign labels, and within 50 characters', () => {
    const labels = pendingLabels(project, { risk: 'high', labels: ['Approved', 'rejected', 'APPROVAL:PENDING', 'risk:low', 'escalate', 'escalated:3', 'ok', 'ok', `long-${'x'.repeat(80)}`, 'two\nlines'] });
    expect(labels).toEqual(['approval:pending', 'risk:high', 'ok', `long-${'x'.repeat(44)}…`, 'two lines']);
  });
});
