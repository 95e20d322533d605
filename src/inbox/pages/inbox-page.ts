import { html } from '../../primitives/html.ts';
import { lineText } from '../../providers/requester-text.ts';
import type { Deadline } from '../approval-deadline.ts';
import { page, shortDuration, type Viewer } from './layout.ts';

export interface InboxItem {
  id: string;
  project: string;
  action: string;
  summary: string;
  risk: string;
  createdAt: Date;
  votes: number;
  required: number;
  batchId: string | null;
  deadline: Deadline | undefined;
}

/** `GET /inbox`: what waits for the signed-in person, newest first, with its age and time left. */
export function inboxPage(viewer: Viewer, items: InboxItem[], now: Date, more: boolean): string {
  const rows = items.map(
    (item) => html`<tr>
<td><a href="/approvals/${item.id}">${lineText(item.summary)}</a>${item.batchId ? html` <span class="muted">(in <a href="/batches/${item.batchId}">a batch</a>)</span>` : null}<br><span class="muted"><code>${lineText(item.action)}</code> · ${item.project}</span></td>
<td class="risk-${item.risk}">${item.risk}</td>
<td>${shortDuration(now.getTime() - item.createdAt.getTime())}</td>
<td>${item.deadline ? `${item.deadline.kind} in ${shortDuration(item.deadline.at.getTime() - now.getTime())}` : '—'}</td>
<td>${item.votes} of ${item.required}</td>
</tr>`,
  );
  return page(
    'Inbox',
    viewer,
    html`<h1>Waiting for you</h1>
${items.length === 0
  ? html`<p>Nothing waits for you. Approvals where you are a current reviewer appear here.</p>`
  : html`<table>
<caption class="muted">${more ? `The ${items.length} newest pending approvals` : `${items.length} pending approval${items.length === 1 ? '' : 's'}`} where you are a reviewer, newest first</caption>
<thead><tr><th scope="col">Request</th><th scope="col">Risk</th><th scope="col">Age</th><th scope="col">Time left</th><th scope="col">Approvals</th></tr></thead>
<tbody>${rows}</tbody>
</table>`}
${more ? html`<p class="muted">Older pending approvals are not shown: the ${items.length} newest are. Decide these first.</p>` : null}`,
  );
}
