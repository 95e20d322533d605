import type { GrantView } from '../../grants/grant-store.ts';
import { html } from '../../primitives/html.ts';
import { lineText } from '../../providers/requester-text.ts';
import { page, shortDuration, type Viewer } from './layout.ts';

export interface AdminOverview {
  projects: Array<{
    key: string;
    provider: string;
    reviewers: string[];
    tiers: Array<{ after: string; reviewers: string[]; outcome?: string }>;
    requiredApprovals: number;
    pending: number;
    /** Request to decision, over the decisions of the last 30 days (ms); null without any. */
    queue: { p50: number; p90: number; p99: number; decided: number } | null;
  }>;
  deadCallbacks: Array<{ approvalId: string; lastStatus: number | null; lastError: string | null; at: Date | null }>;
  deadCallbackCount: number;
  checkpoint: { treeSize: number; at: Date } | null;
  auditRecords: number;
  /** Standing grants neither revoked nor expired. */
  grants: GrantView[];
}

/** `GET /admin`: read-only, for people with `admin: true` in the directory. */
export function adminPage(viewer: Viewer, overview: AdminOverview, now: Date, notice?: string): string {
  const ms = (value: number) => shortDuration(value);
  return page(
    'Admin',
    viewer,
    html`<h1>Admin</h1>
${notice ? html`<p class="notice decided" role="status">${notice}</p>` : null}
<h2>Projects</h2>
<table>
<thead><tr><th scope="col">Project</th><th scope="col">Reviewers</th><th scope="col">Pending</th><th scope="col">Queue time p50 / p90 / p99 (30 days)</th></tr></thead>
<tbody>${overview.projects.map(
      (p) => html`<tr>
<td><strong>${p.key}</strong><br><span class="muted">${p.provider} · ${p.requiredApprovals} approval${p.requiredApprovals === 1 ? '' : 's'} needed</span></td>
<td>${p.reviewers.join(', ')}${p.tiers.map((t, i) => html`<br><span class="muted">tier ${i + 1} after ${t.after}: ${t.reviewers.join(', ') || '—'}${t.outcome ? ` then ${t.outcome}` : ''}</span>`)}</td>
<td>${p.pending}</td>
<td>${p.queue ? `${ms(p.queue.p50)} / ${ms(p.queue.p90)} / ${ms(p.queue.p99)} (${p.queue.decided} decided)` : '—'}</td>
</tr>`,
    )}</tbody>
</table>
<h2>Standing grants</h2>
${overview.grants.length === 0
  ? html`<p>None active.</p>`
  : html`<table>
<thead><tr><th scope="col">Grant</th><th scope="col">Covers</th><th scope="col">Until</th><th scope="col">Used</th><th scope="col"></th></tr></thead>
<tbody>${overview.grants.map(
      (g) => html`<tr>
<td><code>${g.id}</code><br><span class="muted">by ${g.grantedBy} on <a href="/approvals/${g.approvalId}">${g.approvalId}</a></span></td>
<td>${g.project} · <code>${lineText(g.action)}</code> · key <code>${g.apiKeyId}</code> · requested by ${g.requestedBy === null ? 'nobody named' : lineText(g.requestedBy)}${Object.keys(g.limits).length > 0 ? html`<br><span class="muted">limits ${lineText(JSON.stringify(g.limits))}</span>` : null}</td>
<td>${g.expiresAt}</td>
<td>${g.uses}</td>
<td><form method="post" action="/admin/grants/${g.id}/revoke"><input type="hidden" name="csrf" value="${viewer.csrf}"><button class="reject" type="submit">Revoke</button></form></td>
</tr>`,
    )}</tbody>
</table>`}
<h2>Dead callbacks</h2>
${overview.deadCallbackCount === 0
  ? html`<p>None.</p>`
  : html`<p>${overview.deadCallbackCount} callback${overview.deadCallbackCount === 1 ? ' is' : 's are'} dead; <code>POST /v1/approvals/{id}/redeliver</code> sends one again.</p>
<ul>${overview.deadCallbacks.map((c) => html`<li><a href="/approvals/${c.approvalId}">${c.approvalId}</a>: ${c.lastStatus ?? 'no answer'}${c.lastError ? ` (${c.lastError})` : ''}${c.at ? html` <span class="muted">${c.at.toISOString()}</span>` : null}</li>`)}</ul>`}
<h2>Audit log</h2>
<p>${overview.auditRecords} records. ${overview.checkpoint
      ? html`Last signed checkpoint: ${overview.checkpoint.treeSize} records, ${shortDuration(now.getTime() - overview.checkpoint.at.getTime())} ago (${overview.checkpoint.at.toISOString()}).`
      : 'No checkpoint signed yet.'}</p>
<p class="muted">This page does not check the chain; <code>npx countersign audit verify</code> checks every record and signature.</p>`,
  );
}
