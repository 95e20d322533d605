import type { AuditRecord } from '../../audit/audit-record.ts';
import type { Vote } from '../../approvals/approval-detail.ts';
import type { ApprovalRow, JsonPatchOperation } from '../../db/schema.ts';
import { html, type HtmlValue } from '../../primitives/html.ts';
import { blockText, lineText, payloadJson } from '../../providers/requester-text.ts';
import type { Deadline } from '../approval-deadline.ts';
import { page, shortDuration, type Viewer } from './layout.ts';
import { grantSteps } from '../../projects/mapping-schema.ts';

/** How the page's form proves who decides: the session's CSRF token, or the email link's own single-use token. */
export type DecideWith = { kind: 'session'; csrf: string } | { kind: 'token'; token: string } | { kind: 'none'; why: string };

/** What the last attempt came to, said on the page (the engine's reason for a refusal, as it is). */
export interface Outcome {
  kind: 'decided' | 'counted' | 'refused';
  text: string;
}

/** What the form offers beyond yes and no, as the project allows it. */
export interface DecisionChoices {
  /** An editor for the payload (approve with changes: `allowEdits`). */
  edit: boolean;
  /** A standing grant of up to this many hours (`grants.maxHours`), where one may be given. */
  grantMaxHours?: number;
}

export interface ApprovalPageData {
  approval: ApprovalRow;
  choices: DecisionChoices;
  votes: Vote[];
  audit: AuditRecord[];
  deadline: Deadline | undefined;
  decideWith: DecideWith;
  outcome?: Outcome;
  now: Date;
}

/**
 * `GET /approvals/{id}`: Countersign's own facts first (status, payload and its hash, risk,
 * votes), then the request as the agent wrote it, shown as text, never as markup; then the
 * approval's audit trail and the form. A decided approval shows its outcome and no form.
 */
export function approvalPage(viewer: Viewer | undefined, data: ApprovalPageData): string {
  const { approval: a } = data;
  const approvals = data.votes.filter((v) => v.outcome === 'approve').length;
  return page(
    lineText(a.summary),
    viewer,
    html`<h1>${lineText(a.summary)}</h1>
${data.outcome ? html`<p class="notice ${data.outcome.kind}" role="${data.outcome.kind === 'refused' ? 'alert' : 'status'}">${data.outcome.text}</p>` : null}
${statusLine(a, approvals, data)}
<h2>Payload</h2>
<p>What a yes approves, exactly. Hash: <code>${a.payload_hash}</code></p>
<pre><code>${payloadJson(a.payload)}</code></pre>
<h2>Request</h2>
<dl>
<dt>Project</dt><dd>${a.project}</dd>
<dt>Action</dt><dd><code>${lineText(a.action)}</code></dd>
<dt>Risk</dt><dd class="risk-${a.risk}">${a.risk}</dd>
<dt>Requested by</dt><dd>${a.requested_by === null ? html`<span class="muted">not given</span>` : lineText(a.requested_by)}</dd>
<dt>Requested</dt><dd>${a.created_at.toISOString()} (${shortDuration(data.now.getTime() - a.created_at.getTime())} ago)</dd>
${a.labels.length > 0 ? html`<dt>Labels</dt><dd>${a.labels.map((label, i) => html`${i > 0 ? ', ' : ''}<code>${lineText(label)}</code>`)}</dd>` : null}
${a.batch_id ? html`<dt>Batch</dt><dd><a href="/batches/${a.batch_id}">${a.batch_id}</a></dd>` : null}
<dt>Id</dt><dd><code>${a.id}</code></dd>
</dl>
<h2>Details, as the agent wrote them</h2>
${a.details === null || a.details === '' ? html`<p class="muted">none</p>` : html`<pre>${blockText(a.details)}</pre>`}
<h2>Votes</h2>
${data.votes.length === 0
  ? html`<p class="muted">No votes yet.</p>`
  : html`<ul>${data.votes.map((v) => html`<li><strong>${v.reviewer}</strong> ${v.outcome === 'approve' ? 'approved' : 'rejected'} via ${v.via}${v.reason ? html`: ${lineText(v.reason)}` : null} <span class="muted">${v.at.toISOString()}</span></li>`)}</ul>`}
${decideForm(a, data.decideWith, data.choices)}
<h2>Audit trail</h2>
<table>
<thead><tr><th scope="col">#</th><th scope="col">Time</th><th scope="col">Event</th><th scope="col">By</th></tr></thead>
<tbody>${data.audit.map((r) => html`<tr><td>${r.seq}</td><td>${r.time}</td><td>${r.event}</td><td>${lineText(r.actor.id)} <span class="muted">(${r.actor.kind}${r.actor.via ? `, ${r.actor.via}` : ''})</span></td></tr>`)}</tbody>
</table>`,
  );
}

function statusLine(a: ApprovalRow, approvals: number, data: ApprovalPageData): HtmlValue {
  if (a.status === 'pending') {
    return html`<p><span class="status">Pending</span> · ${approvals} of ${a.required_approvals} approval${a.required_approvals === 1 ? '' : 's'}${data.deadline ? ` · ${data.deadline.kind} in ${shortDuration(data.deadline.at.getTime() - data.now.getTime())}` : ''}</p>`;
  }
  const d = a.decision;
  return html`<p class="notice decided" role="status"><span class="status">${a.status[0]!.toUpperCase()}${a.status.slice(1)}</span>${d ? html` by ${d.by.join(', ')} at ${d.at}${d.reason ? html`: ${lineText(d.reason)}` : null}` : null}</p>`;
}

function proofField(decideWith: Exclude<DecideWith, { kind: 'none' }>): HtmlValue {
  return decideWith.kind === 'session' ? html`<input type="hidden" name="csrf" value="${decideWith.csrf}">` : html`<input type="hidden" name="t" value="${decideWith.token}">`;
}

function decideForm(a: ApprovalRow, decideWith: DecideWith, choices: DecisionChoices): HtmlValue {
  if (a.status !== 'pending') return null;
  if (decideWith.kind === 'none') return html`<p class="muted">${decideWith.why}</p>`;
  return html`<form class="decide" method="post" action="/approvals/${a.id}/decision">
<h2>Your decision</h2>
${proofField(decideWith)}
<input type="hidden" name="payloadHash" value="${a.payload_hash}">
${choices.edit
  ? html`<label for="payload">Payload (JSON). Change it to approve with changes; you will see the difference before it counts.</label>
<textarea id="payload" name="payload" rows="${Math.min(20, payloadJson(a.payload).split('\n').length + 1)}" spellcheck="false">${payloadJson(a.payload)}</textarea>`
  : null}
${choices.grantMaxHours !== undefined
  ? html`<label for="grantHours">And allow the same requests of this agent, from the same requester, for</label>
<select id="grantHours" name="grantHours"><option value="">no standing grant</option>${grantSteps(choices.grantMaxHours).map((hours) => html`<option value="${hours}">${hours} hour${hours === 1 ? '' : 's'}</option>`)}</select>`
  : null}
<label for="reason">Reason (required to reject; shown to the agent)</label>
<textarea id="reason" name="reason" rows="3" maxlength="2000"></textarea>
<div><button class="approve" type="submit" name="outcome" value="approve">Approve</button><button class="reject" type="submit" name="outcome" value="reject">Reject</button></div>
</form>`;
}

/** What a reviewer confirms before an approval with changes counts: the change, as a patch, and the payload approved. */
export interface EditConfirmation {
  approval: ApprovalRow;
  payload: unknown;
  patch: JsonPatchOperation[];
  reason: string | null;
  grantHours: string | null;
  decideWith: Exclude<DecideWith, { kind: 'none' }>;
}

/** The second step of approving with changes (no script: a page, then a second POST). */
export function confirmEditPage(viewer: Viewer | undefined, data: EditConfirmation): string {
  const { approval: a } = data;
  return page(
    `Confirm: ${lineText(a.summary)}`,
    viewer,
    html`<h1>Approve with changes?</h1>
<p>You changed the payload of <a href="/approvals/${a.id}">${lineText(a.summary)}</a>. Approving approves exactly the payload below${a.required_approvals > 1 ? ', and takes back the approvals given so far: everyone approves the same bytes' : ''}.</p>
<h2>What changed</h2>
<table>
<thead><tr><th scope="col">Change</th><th scope="col">Where</th><th scope="col">New value</th></tr></thead>
<tbody>${data.patch.map((op) => html`<tr><td>${op.op}</td><td><code>${op.path || '(the whole payload)'}</code></td><td>${op.op === 'remove' ? html`<span class="muted">removed</span>` : html`<code>${lineText(JSON.stringify(op.value) ?? '')}</code>`}</td></tr>`)}</tbody>
</table>
<h2>The payload you approve</h2>
<pre><code>${payloadJson(data.payload)}</code></pre>
<form class="decide" method="post" action="/approvals/${a.id}/decision">
${proofField(data.decideWith)}
<input type="hidden" name="payloadHash" value="${a.payload_hash}">
<input type="hidden" name="payload" value="${JSON.stringify(data.payload)}">
<input type="hidden" name="reason" value="${data.reason ?? ''}">
${data.grantHours ? html`<input type="hidden" name="grantHours" value="${data.grantHours}">` : null}
<input type="hidden" name="confirm" value="1">
<div><button class="approve" type="submit" name="outcome" value="approve">Approve with these changes</button> <a href="/approvals/${a.id}">Back, change nothing</a></div>
</form>`,
  );
}
