import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderApprovalMessage, type ApprovalMessage } from '../../../../src/providers/slack/slack-message.ts';
import { escapeSlack, plainText } from '../../../../src/providers/slack/slack-text.ts';
import { blockProblems } from '../../../helpers/fake-slack.ts';
import { hostileRequest, hostileText } from '../../../helpers/hostile-text.ts';

/** Slack's own constructs: mentions, broadcasts, links with hidden targets, dates, formatting, quotes. */
const SLACK = ['<!channel>', '<!here>', '<!everyone>', '<@U0BOB0001>', '<@W0ADMIN1>', '<#C0OTHER1>', '<!subteam^S123|@admins>', '<!date^1392734382^{date}|Feb 18>', '<https://evil.example|Approve>', '<mailto:a@evil.example|x>', '&lt;!channel&gt;', '*', '_', '~', '`', '```', '>', '&gt; quote', ':white_check_mark:', '*Approved* by <@U0ALICE01>'];
const slackHostile = fc.array(fc.oneof(fc.constantFrom(...SLACK), hostileText), { minLength: 1, maxLength: 8 }).map((parts) => parts.join(''));

const base: ApprovalMessage = {
  approvalId: 'apr_01TEST',
  project: 'ops',
  action: 'send',
  summary: 'Send it',
  details: null,
  payload: { a: 1 },
  payloadHash: `sha256:${'a'.repeat(64)}`,
  risk: 'high',
  requestedBy: 'agent',
  approvalUrl: 'https://countersign.example/v1/approvals/apr_01TEST',
  reviewers: ['U0ALICE01', 'bob'],
  required: 1,
  state: { kind: 'pending', approvals: 0, by: [] },
  buttons: true,
};

type Text = { type: string; text: string };
const textsOf = (blocks: ReturnType<typeof renderApprovalMessage>['blocks']): Text[] =>
  blocks.flatMap((block) => {
    const b = block as { text?: Text; elements?: Array<Text | { text?: Text }> };
    return [...(b.text ? [b.text] : []), ...(b.elements ?? []).map((e) => ('type' in e && typeof e.text === 'string' ? (e as Text) : ((e as { text?: Text }).text ?? { type: 'none', text: '' })))];
  });

/** The only `<…>` Countersign writes: its reviewers' mentions and links to its own approval page. */
const OWN = /^<(?:@U0ALICE01|https:\/\/countersign\.example\/v1\/approvals\/apr_01TEST\|(?:open in Countersign|Countersign))>$/;

describe('Slack message', () => {
  it('keeps every piece of requester text from rendering as Slack markup or Countersign’s words', () => {
    fc.assert(
      fc.property(hostileRequest, slackHostile, slackHostile, (request, summary, details) => {
        const message: ApprovalMessage = { ...base, ...request, summary: `${request.summary}${summary}`, details: request.details === null ? details : `${request.details}${details}`, payload: { note: summary, original: request.payload } };
        const { text, blocks } = renderApprovalMessage(message);
        expect(blockProblems(blocks)).toEqual([]);
        const texts = textsOf(blocks);
        for (const t of texts) {
          if (t.type === 'plain_text') expect(t.text).not.toMatch(/[<>]/);
          for (const construct of t.text.match(/<[^>]*>/g) ?? []) expect(construct).toMatch(OWN);
        }
        // Details and payload: one code block each, opened and closed by Countersign alone.
        for (const t of texts.filter((x) => /^\*(?:Details|Payload)\*/.test(x.text))) {
          expect(t.text.match(/```/g)).toHaveLength(2);
          expect(t.text.indexOf('```')).toBe(t.text.indexOf('\n') + 1);
        }
        // The notification text is Countersign's words only.
        expect(text).toBe('Countersign: approval request apr_01TEST in ops (risk high): needs review');
      }),
      { numRuns: 300 },
    );
  });

  it('shows the state in Countersign’s words: votes, outcome with who and why, cancellation, expiry', () => {
    const shown = (state: ApprovalMessage['state']) => textsOf(renderApprovalMessage({ ...base, required: 2, state }).blocks).map((t) => t.text);
    expect(shown({ kind: 'pending', approvals: 1, by: ['U0ALICE01'] })).toContain(':hourglass_flowing_sand: *Pending* · 1 of 2 approvals so far: <@U0ALICE01>');
    expect(shown({ kind: 'decided', decision: { outcome: 'rejected', by: ['U0ALICE01'], at: '', reason: 'no <!here>' } })).toEqual(expect.arrayContaining([':x: *Rejected* by <@U0ALICE01>', 'no &lt;!here&gt;']));
    expect(shown({ kind: 'decided', decision: { outcome: 'expired', by: [], at: '', reason: null } })).toContain(':alarm_clock: *Expired*: no decision in time, so it is not approved');
    expect(shown({ kind: 'cancelled' }).some((t) => t.startsWith(':no_entry_sign: *Cancelled*'))).toBe(true);
    // Decided: no buttons.
    expect(renderApprovalMessage({ ...base, state: { kind: 'cancelled' } }).blocks.some((b) => b.type === 'actions')).toBe(false);
  });

  it('trims a long payload to Slack’s limit with a link to the whole request, the hash whole', () => {
    const { blocks } = renderApprovalMessage({ ...base, payload: { blob: 'x'.repeat(20_000) }, details: 'd'.repeat(10_000) });
    expect(blockProblems(blocks)).toEqual([]);
    const texts = textsOf(blocks).map((t) => t.text);
    expect(texts.find((t) => t.startsWith('*Payload*'))).toContain('the payload hash covers all of it');
    expect(texts.find((t) => t.startsWith('*Details*'))).toContain('trimmed:');
    expect(texts).toContain(`*Payload hash* \`sha256:${'a'.repeat(64)}\``);
  });

  it('escapes as Slack documents and never sends an empty plain_text', () => {
    expect(escapeSlack('a & <b> c')).toBe('a &amp; &lt;b&gt; c');
    expect(plainText('  ')).toEqual({ type: 'plain_text', text: ' ', emoji: false });
    expect(plainText('x'.repeat(5000)).text.length).toBeLessThanOrEqual(3000);
  });
});
