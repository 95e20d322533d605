import { stringify } from 'csv-stringify/sync';
import type { Review } from './build-review.ts';

export const REVIEW_FORMATS = ['text', 'json', 'csv', 'html'] as const;
export type ReviewFormat = (typeof REVIEW_FORMATS)[number];

const seconds = (value: number | null) => (value === null ? '–' : `${Math.round(value * 10) / 10} s`);
const percent = (share: number) => `${Math.round(share * 100)} %`;
const day = (iso: string) => iso.slice(0, 16).replace('T', ' ');
/** `high: 2 approve, 0 reject; …`, leaving out the risks with nothing. */
const byRisk = (counts: Record<string, Record<string, number>>) =>
  Object.entries(counts)
    .filter(([, outcomes]) => Object.values(outcomes).some((n) => n > 0))
    .map(([risk, outcomes]) => `${risk}: ${Object.entries(outcomes).map(([outcome, n]) => `${n} ${outcome}`).join(', ')}`)
    .join('; ') || 'none';
const ruleCounts = (counts: Record<string, number>) => Object.entries(counts).map(([rule, n]) => `${rule} ×${n}`).join(', ');

export function renderReview(review: Review, format: ReviewFormat): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(review, null, 2)}\n`;
    case 'csv':
      return renderCsv(review);
    case 'html':
      return renderHtml(review);
    case 'text':
      return renderText(review);
  }
}

/** The review's title, as the weekly post's issue title. */
export const reviewTitle = (review: Review) => `Countersign weekly review ${review.period.since.slice(0, 10)} – ${review.period.until.slice(0, 10)}${review.project ? ` (${review.project})` : ''}`;

function renderText(review: Review): string {
  const lines = [reviewTitle(review), `Period ${day(review.period.since)} – ${day(review.period.until)} UTC; the audit log verified before this report was made.`, ''];
  lines.push(review.flags.length === 0 ? 'Flags: none.' : `Flags (${review.flags.length}):`);
  for (const flag of review.flags) lines.push(`  [${flag.kind}] ${flag.message}`, `      ${flag.approvalIds.join(' ')}`);
  lines.push('', 'Reviewers:');
  if (review.reviewers.length === 0) lines.push('  no decisions in the period');
  for (const r of review.reviewers) {
    lines.push(`  ${r.reviewer}: ${byRisk(r.decisions)}`);
    lines.push(`      without a reason: ${r.approvalsWithoutReason}; time to decide: median ${seconds(r.medianSecondsToDecide)}, fastest ${seconds(r.fastestSecondsToDecide)}; faster than ${review.thresholds.fastDecisionSeconds} s: ${r.fastDecisions}; outside working hours: ${r.outsideWorkingHours}`);
  }
  lines.push('', 'Projects:');
  if (review.projects.length === 0) lines.push('  no activity in the period');
  for (const p of review.projects) {
    lines.push(`  ${p.project}: ${byRisk(p.decisions)}`);
    const top = p.topApprover ? `${p.topApprover.reviewer} made ${percent(p.topApprover.share)} of ${p.approvals} approvals` : 'no approvals by reviewers';
    lines.push(`      ${top}; escalations: ${p.escalations.count}; expiries: ${p.expiries.count}; auto-approved: ${ruleCounts(p.autoApprovals) || 0}; by grants: ${ruleCounts(p.grants) || 0}`);
  }
  lines.push('', 'Refused attempts:');
  if (review.refused.length === 0) lines.push('  none');
  for (const r of review.refused) lines.push(`  ${r.actor} (${r.code}) ×${r.count}: ${r.approvalIds.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * One row per finding, in a long format a spreadsheet can filter: every flag, every reviewer's
 * and every project's counts. Formula-looking cells (`=`, `+`, `-`, `@`) are neutralised by
 * csv-stringify's `escape_formulas` (reviewer and rule names come from outside).
 */
export const REVIEW_CSV_COLUMNS = ['section', 'kind', 'project', 'actor', 'count', 'approval_ids', 'message'] as const;

function renderCsv(review: Review): string {
  const rows: Array<Array<string | number>> = [];
  for (const flag of review.flags) rows.push(['flag', flag.kind, flag.project ?? '', flag.actor ?? '', flag.approvalIds.length, flag.approvalIds.join(' '), flag.message]);
  for (const r of review.reviewers) {
    for (const [risk, outcomes] of Object.entries(r.decisions)) for (const [outcome, n] of Object.entries(outcomes)) if (n > 0) rows.push(['reviewer', `${outcome}:${risk}`, '', r.reviewer, n, '', '']);
    rows.push(['reviewer', 'median_seconds_to_decide', '', r.reviewer, r.medianSecondsToDecide ?? '', '', ''], ['reviewer', 'fastest_seconds_to_decide', '', r.reviewer, r.fastestSecondsToDecide ?? '', '', '']);
  }
  for (const p of review.projects) {
    for (const [risk, outcomes] of Object.entries(p.decisions)) for (const [outcome, n] of Object.entries(outcomes)) if (n > 0) rows.push(['project', `${outcome}:${risk}`, p.project, '', n, '', '']);
    if (p.topApprover) rows.push(['project', 'top_approver_share', p.project, p.topApprover.reviewer, p.topApprover.share, '', '']);
    rows.push(['project', 'escalations', p.project, '', p.escalations.count, p.escalations.approvalIds.join(' '), ''], ['project', 'expiries', p.project, '', p.expiries.count, p.expiries.approvalIds.join(' '), '']);
    for (const [rule, n] of Object.entries(p.autoApprovals)) rows.push(['project', 'auto_approved', p.project, rule, n, '', '']);
    for (const [grant, n] of Object.entries(p.grants)) rows.push(['project', 'grant', p.project, grant, n, '', '']);
  }
  for (const r of review.refused) rows.push(['refused', r.code, '', r.actor, r.count, r.approvalIds.join(' '), '']);
  return stringify(rows, { header: true, columns: [...REVIEW_CSV_COLUMNS], escape_formulas: true, record_delimiter: 'windows' });
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Every value from the log goes through this: a reviewer id or rule name is text, never markup. */
export const escapeHtml = (value: unknown) => String(value).replace(/[&<>"']/g, (char) => ESCAPES[char]!);

/** One self-contained page: inline style, no script, no external resource. */
function renderHtml(review: Review): string {
  const e = escapeHtml;
  const table = (head: string[], rows: unknown[][]) =>
    `<table><thead><tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((row) => `<tr>${row.map((cell) => `<td>${e(cell)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
  const title = reviewTitle(review);
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    // No script and nothing loaded: the page can be mailed or attached and opened anywhere.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>${e(title)}</title>`,
    '<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}code{font-size:12px}</style>',
    '</head><body>',
    `<h1>${e(title)}</h1>`,
    `<p>Period ${e(day(review.period.since))} – ${e(day(review.period.until))} UTC. The audit log verified before this report was made.</p>`,
    `<h2>Flags (${review.flags.length})</h2>`,
    review.flags.length === 0 ? '<p>None.</p>' : table(['kind', 'finding', 'approvals'], review.flags.map((f) => [f.kind, f.message, f.approvalIds.join(' ')])),
    '<h2>Reviewers</h2>',
    table(
      ['reviewer', 'decisions by risk', 'without a reason', 'median to decide', 'fastest', `under ${review.thresholds.fastDecisionSeconds} s`, 'outside hours'],
      review.reviewers.map((r) => [r.reviewer, byRisk(r.decisions), r.approvalsWithoutReason, seconds(r.medianSecondsToDecide), seconds(r.fastestSecondsToDecide), r.fastDecisions, r.outsideWorkingHours]),
    ),
    '<h2>Projects</h2>',
    table(
      ['project', 'outcomes by risk', 'top approver', 'escalations', 'expiries', 'auto-approved', 'grants'],
      review.projects.map((p) => [p.project, byRisk(p.decisions), p.topApprover ? `${p.topApprover.reviewer} (${percent(p.topApprover.share)} of ${p.approvals})` : '–', p.escalations.count, p.expiries.count, ruleCounts(p.autoApprovals) || 0, ruleCounts(p.grants) || 0]),
    ),
    '<h2>Refused attempts</h2>',
    table(['actor', 'why', 'count', 'approvals'], review.refused.map((r) => [r.actor, r.code, r.count, r.approvalIds.join(' ')])),
    '</body></html>',
    '',
  ].join('\n');
}
