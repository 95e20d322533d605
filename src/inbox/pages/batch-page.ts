import type { ApprovalRow, BatchRow } from '../../db/schema.ts';
import { html } from '../../primitives/html.ts';
import { lineText } from '../../providers/requester-text.ts';
import type { Outcome } from './approval-page.ts';
import { page, type Viewer } from './layout.ts';

/**
 * `GET /batches/{id}`: each item with a checkbox (ticked: approved with the batch; unticked:
 * rejected, as `exclude`), each linking to its own page for the full payload.
 */
export function batchPage(viewer: Viewer, batch: BatchRow, items: ApprovalRow[], outcome?: Outcome): string {
  const pending = items.filter((item) => item.status === 'pending');
  const decidable = batch.status !== 'open' && pending.length > 0;
  return page(
    `Batch ${batch.id}`,
    viewer,
    html`<h1>Batch of ${items.length} request${items.length === 1 ? '' : 's'} in ${batch.project}</h1>
${outcome ? html`<p class="notice ${outcome.kind}" role="${outcome.kind === 'refused' ? 'alert' : 'status'}">${outcome.text}</p>` : null}
<p>Status: <span class="status">${batch.status}</span>${batch.status === 'open' ? ` · collecting requests until ${batch.closes_at.toISOString()}` : ''} · ${pending.length} pending</p>
<form class="decide" method="post" action="/batches/${batch.id}/decision">
<input type="hidden" name="csrf" value="${viewer.csrf}">
<table>
<thead><tr><th scope="col">Approve</th><th scope="col">Request</th><th scope="col">Payload hash</th><th scope="col">Status</th></tr></thead>
<tbody>${items.map(
      (item) => html`<tr>
<td>${item.status === 'pending' && decidable ? html`<input type="checkbox" id="item-${item.id}" name="include" value="${item.id}" checked><label class="inline" for="item-${item.id}"><span class="muted"> include</span></label>` : '—'}</td>
<td><a href="/approvals/${item.id}">${lineText(item.summary)}</a><br><span class="muted"><code>${lineText(item.action)}</code> · <span class="risk-${item.risk}">${item.risk}</span></span></td>
<td><code>${item.payload_hash}</code></td>
<td>${item.status}</td>
</tr>`,
    )}</tbody>
</table>
${decidable
  ? html`<label for="reason">Reason (required to reject; unticked items are rejected with it)</label>
<textarea id="reason" name="reason" rows="2" maxlength="2000"></textarea>
<div><button class="approve" type="submit" name="outcome" value="approve">Approve the ticked items</button><button class="reject" type="submit" name="outcome" value="reject">Reject all</button></div>`
  : html`<p class="muted">${batch.status === 'open' ? 'The batch is still collecting requests; it can be decided once it closes.' : 'Nothing is left to decide.'}</p>`}
</form>`,
  );
}
