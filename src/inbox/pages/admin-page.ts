import { html } from '../../primitives/html.ts';
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
}

/** `GET /admin`: read-only, for people with `admin: true` in the directory. */
export function adminPage(viewer: Viewer, overview: AdminOverview, now: Date): string {
  const ms = (value: number) => shortDuration(value);
  return page(
    'Admin',
    viewer,
    html`<h1>Admin</h1>
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
