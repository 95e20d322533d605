import { html } from '../../primitives/html.ts';
import { lineText } from '../../providers/requester-text.ts';
import type { ApprovalSummary } from '../notification-channel.ts';
import type { MailMessage } from './mailer.ts';

/**
 * The email a reviewer gets when an approval needs them: what it is, its risk and payload hash,
 * and the link to its page. The link opens the page; only the page's form decides (link scanners
 * fetch every link in a message: EMAIL-NOTES.md). Agent text is shown on one line with its
 * invisible characters revealed, and escaped in the HTML part.
 */
export function approvalEmail(to: string, approval: ApprovalSummary, link: string, tier: number): MailMessage {
  const summary = lineText(approval.summary);
  const action = lineText(approval.action);
  const requestedBy = approval.requestedBy === null ? null : lineText(approval.requestedBy);
  const why = tier > 0 ? `It was escalated to you (tier ${tier}).` : 'You are a reviewer of this project.';
  const votes = approval.required > 1 ? `${approval.approvals} of ${approval.required} approvals so far.` : null;
  // The subject is a header line: lineText leaves no line break in it, and nodemailer encodes the rest.
  const subject = `[Countersign] ${approval.risk} risk: ${cut(summary, 140)}`;
  const text = [
    `An agent asks for your sign-off in project ${approval.project}. ${why}`,
    '',
    `Summary: ${summary}`,
    `Action: ${action}`,
    `Risk: ${approval.risk}`,
    ...(requestedBy !== null ? [`Requested by: ${requestedBy}`] : []),
    `Payload hash: ${approval.payloadHash}`,
    ...(votes ? [votes] : []),
    '',
    'Read the full request and decide on its page (opening the link decides nothing):',
    link,
    '',
    'The link works once, for you, for this exact payload, for 24 hours. Countersign never asks for a decision by reply.',
  ].join('\n');
  const body = html`<!doctype html><html><body>
<p>An agent asks for your sign-off in project <strong>${approval.project}</strong>. ${why}</p>
<table role="presentation">
<tr><th align="left">Summary</th><td>${summary}</td></tr>
<tr><th align="left">Action</th><td><code>${action}</code></td></tr>
<tr><th align="left">Risk</th><td>${approval.risk}</td></tr>
${requestedBy !== null ? html`<tr><th align="left">Requested by</th><td>${requestedBy}</td></tr>` : null}
<tr><th align="left">Payload hash</th><td><code>${approval.payloadHash}</code></td></tr>
</table>
${votes ? html`<p>${votes}</p>` : null}
<p><a href="${link}">Read the request and decide</a> (opening the link decides nothing; the page has the buttons).</p>
<p>The link works once, for you, for this exact payload, for 24 hours.</p>
</body></html>`;
  return { to, subject, text, html: body.html };
}

const cut = (text: string, max: number) => ([...text].length > max ? `${[...text].slice(0, max - 1).join('')}…` : text);
