import type { AuditActor, AuditRecord } from '../audit/audit-record.ts';
import type { Risk } from '../db/schema.ts';
import type { ReviewSettings, Weekday } from '../projects/review-settings.ts';
import type { ReviewInput } from './review-input.ts';

export type FlagKind = 'fast_decision' | 'approved_without_reason' | 'one_person_share' | 'refused_attempt' | 'outside_working_hours' | 'expired';

/** Something a person should look at, with every approval it is about. */
export interface ReviewFlag {
  kind: FlagKind;
  project: string | null;
  /** The reviewer (or, for a refused attempt, the actor) it is about; null for a project's. */
  actor: string | null;
  message: string;
  approvalIds: string[];
}

type Counts<K extends string> = Record<K, number>;
const RISKS: readonly Risk[] = ['low', 'medium', 'high'];

export interface ReviewerSummary {
  reviewer: string;
  /** Votes by the risk of the request and what the reviewer chose. */
  decisions: Record<Risk, Counts<'approve' | 'reject'>>;
  approvalsWithoutReason: number;
  /** Seconds from the request to this reviewer's vote; null when no request record is retained. */
  medianSecondsToDecide: number | null;
  fastestSecondsToDecide: number | null;
  fastDecisions: number;
  outsideWorkingHours: number;
}

export interface ProjectSummary {
  project: string;
  /** Final outcomes by risk. */
  decisions: Record<Risk, Counts<'approved' | 'rejected' | 'expired'>>;
  /** Approve votes by reviewers in the period. */
  approvals: number;
  /** The reviewer with most of those, and their share (0–1). */
  topApprover: { reviewer: string; approvals: number; share: number } | null;
  escalations: { count: number; approvalIds: string[] };
  expiries: { count: number; approvalIds: string[] };
  /** Decided at intake by a mapping rule (actor `policy`), by rule. */
  autoApprovals: Record<string, number>;
  /** Decided by a standing grant (actor `grant:<id>`), by grant. */
  grants: Record<string, number>;
}

export interface RefusedSummary {
  actor: string;
  code: string;
  count: number;
  approvalIds: string[];
}

export interface Review {
  period: { since: string; until: string };
  project: string | null;
  thresholds: { fastDecisionSeconds: number; shareThreshold: number; shareMinimumApprovals: number; workingHours: ReviewSettings['workingHours'] };
  reviewers: ReviewerSummary[];
  projects: ProjectSummary[];
  refused: RefusedSummary[];
  flags: ReviewFlag[];
}

interface Vote {
  approvalId: string;
  project: string | null;
  risk: Risk;
  reviewer: string;
  outcome: 'approve' | 'reject';
  reason: string | null;
  at: string;
  seconds: number | null;
}

const DAY_INDEX: Record<string, Weekday> = { Mon: 'mon', Tue: 'tue', Wed: 'wed', Thu: 'thu', Fri: 'fri', Sat: 'sat', Sun: 'sun' };

/** Whether `time` falls outside the working hours, read on the clock of their time zone. */
export function outsideWorkingHours(time: string, hours: ReviewSettings['workingHours']): boolean {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: hours.timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date(time));
  const get = (type: string) => parts.find((part) => part.type === type)?.value ?? '';
  const day = DAY_INDEX[get('weekday')];
  const clock = `${get('hour')}:${get('minute')}`;
  return !day || !hours.days.includes(day) || clock < hours.start || clock >= hours.end;
}

const median = (values: number[]): number | null => {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const riskCounts = <K extends string>(keys: readonly K[]) => Object.fromEntries(RISKS.map((risk) => [risk, Object.fromEntries(keys.map((k) => [k, 0]))])) as Record<Risk, Counts<K>>;
const unique = (ids: string[]) => [...new Set(ids)];
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const text = (value: unknown): string | null => (typeof value === 'string' && value.trim() !== '' ? value : null);

/**
 * The weekly review of verified audit records: per reviewer and per project, with a flag for
 * each pattern worth a look (the article's "a reviewer approving many high-risk tasks without
 * justification"). Pure: the same records and settings give the same review.
 *
 * A vote is a reviewer's `decision.counted` or `approval.decided` record (data.outcome
 * `approve`/`reject`); final outcomes come from `approval.decided`, whoever decided.
 */
export function buildReview(input: ReviewInput, settings: ReviewSettings, options: { since: Date; until: Date; project?: string | undefined; personOf?: (actor: AuditActor) => string | undefined }): Review {
  // One person deciding in two channels (GitHub and Slack) is one reviewer here, as in the count.
  const who = (actor: AuditActor) => options.personOf?.(actor) ?? actor.id;
  const projectOf = (record: AuditRecord) => (record.approvalId ? (input.requested.get(record.approvalId)?.project ?? null) : null);
  const records = input.records.filter((record) => options.project === undefined || projectOf(record) === options.project);
  const votes: Vote[] = [];
  const projects = new Map<string, ProjectSummary>();
  const refused = new Map<string, RefusedSummary>();
  const projectSummary = (project: string) => {
    let summary = projects.get(project);
    if (!summary) {
      summary = { project, decisions: riskCounts(['approved', 'rejected', 'expired'] as const), approvals: 0, topApprover: null, escalations: { count: 0, approvalIds: [] }, expiries: { count: 0, approvalIds: [] }, autoApprovals: {}, grants: {} };
      projects.set(project, summary);
    }
    return summary;
  };

  for (const record of records) {
    const approvalId = record.approvalId;
    if (!approvalId) continue;
    const requested = input.requested.get(approvalId);
    const project = requested?.project ?? null;
    const risk = requested?.risk ?? 'medium';
    const data = record.data;
    const summary = project ? projectSummary(project) : undefined;

    if ((record.event === 'decision.counted' || record.event === 'approval.decided') && record.actor.kind === 'reviewer' && (data.outcome === 'approve' || data.outcome === 'reject')) {
      const seconds = requested ? (Date.parse(record.time) - Date.parse(requested.time)) / 1000 : null;
      votes.push({ approvalId, project, risk, reviewer: who(record.actor), outcome: data.outcome, reason: text(data.reason), at: record.time, seconds });
    }
    if (record.event === 'approval.decided' && summary) {
      const status = data.status ?? data.outcome;
      if (status === 'approved' || status === 'rejected' || status === 'expired') summary.decisions[risk][status] += 1;
      if (status === 'expired') {
        summary.expiries.count += 1;
        summary.expiries.approvalIds.push(approvalId);
      }
      if (record.actor.kind === 'policy' && typeof data.rule === 'string') summary.autoApprovals[data.rule] = (summary.autoApprovals[data.rule] ?? 0) + 1;
      // Standing grants (issue 17) decide as actor `grant:<id>`.
      if (record.actor.id.startsWith('grant:')) summary.grants[record.actor.id] = (summary.grants[record.actor.id] ?? 0) + 1;
    }
    if (record.event === 'approval.escalated' && summary) {
      summary.escalations.count += 1;
      summary.escalations.approvalIds.push(approvalId);
    }
    if (record.event === 'decision.refused') {
      const code = typeof data.code === 'string' ? data.code : 'refused';
      const actor = who(record.actor);
      const key = `${actor}\u0000${code}`;
      const entry = refused.get(key) ?? { actor, code, count: 0, approvalIds: [] };
      entry.count += 1;
      entry.approvalIds.push(approvalId);
      refused.set(key, entry);
    }
  }

  const flags: ReviewFlag[] = [];
  const floor = settings.fastDecisionSeconds;
  const byReviewer = new Map<string, Vote[]>();
  for (const vote of votes) byReviewer.set(vote.reviewer, [...(byReviewer.get(vote.reviewer) ?? []), vote]);
  const reviewers: ReviewerSummary[] = [...byReviewer.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reviewer, list]) => {
      const decisions = riskCounts(['approve', 'reject'] as const);
      for (const vote of list) decisions[vote.risk][vote.outcome] += 1;
      const timed = list.flatMap((vote) => (vote.seconds === null ? [] : [vote.seconds]));
      const fast = list.filter((vote) => vote.seconds !== null && vote.seconds < floor);
      const reasonless = list.filter((vote) => vote.outcome === 'approve' && vote.reason === null);
      const offHours = list.filter((vote) => vote.outcome === 'approve' && outsideWorkingHours(vote.at, settings.workingHours));
      if (fast.length > 0) {
        flags.push({ kind: 'fast_decision', project: null, actor: reviewer, message: `${reviewer} decided ${plural(fast.length, 'request')} faster than ${floor} s after it was made (possible rubber-stamping)`, approvalIds: unique(fast.map((v) => v.approvalId)) });
      }
      if (reasonless.length > 0) {
        const high = reasonless.filter((vote) => vote.risk === 'high').length;
        flags.push({ kind: 'approved_without_reason', project: null, actor: reviewer, message: `${reviewer} approved ${plural(reasonless.length, 'request')} without a reason${high > 0 ? ` (${high} high risk)` : ''}`, approvalIds: unique(reasonless.map((v) => v.approvalId)) });
      }
      if (offHours.length > 0) {
        const { start, end, timeZone } = settings.workingHours;
        flags.push({ kind: 'outside_working_hours', project: null, actor: reviewer, message: `${reviewer} approved ${plural(offHours.length, 'request')} outside working hours (${start}–${end} ${timeZone})`, approvalIds: unique(offHours.map((v) => v.approvalId)) });
      }
      return {
        reviewer,
        decisions,
        approvalsWithoutReason: reasonless.length,
        medianSecondsToDecide: median(timed),
        fastestSecondsToDecide: timed.length > 0 ? Math.min(...timed) : null,
        fastDecisions: fast.length,
        outsideWorkingHours: offHours.length,
      };
    });

  for (const summary of projects.values()) {
    const approvals = votes.filter((vote) => vote.project === summary.project && vote.outcome === 'approve');
    summary.approvals = approvals.length;
    const counts = new Map<string, Vote[]>();
    for (const vote of approvals) counts.set(vote.reviewer, [...(counts.get(vote.reviewer) ?? []), vote]);
    const [top] = [...counts.entries()].sort(([a, x], [b, y]) => y.length - x.length || a.localeCompare(b));
    if (top) {
      const share = top[1].length / approvals.length;
      summary.topApprover = { reviewer: top[0], approvals: top[1].length, share };
      if (approvals.length >= settings.shareMinimumApprovals && share > settings.shareThreshold) {
        flags.push({ kind: 'one_person_share', project: summary.project, actor: top[0], message: `${top[0]} made ${Math.round(share * 100)} % of ${summary.project}'s ${approvals.length} approvals (above ${Math.round(settings.shareThreshold * 100)} %)`, approvalIds: unique(top[1].map((v) => v.approvalId)) });
      }
    }
    if (summary.expiries.count > 0) {
      flags.push({ kind: 'expired', project: summary.project, actor: null, message: `${plural(summary.expiries.count, 'request')} of ${summary.project} expired without a decision`, approvalIds: unique(summary.expiries.approvalIds) });
    }
  }
  const refusedList = [...refused.values()].sort((a, b) => a.actor.localeCompare(b.actor) || a.code.localeCompare(b.code));
  for (const entry of refusedList) {
    flags.push({ kind: 'refused_attempt', project: null, actor: entry.actor, message: `${entry.actor} was refused ${plural(entry.count, 'time')} (${entry.code})`, approvalIds: unique(entry.approvalIds) });
  }

  return {
    period: { since: options.since.toISOString(), until: options.until.toISOString() },
    project: options.project ?? null,
    thresholds: { fastDecisionSeconds: floor, shareThreshold: settings.shareThreshold, shareMinimumApprovals: settings.shareMinimumApprovals, workingHours: settings.workingHours },
    reviewers,
    projects: [...projects.values()].sort((a, b) => a.project.localeCompare(b.project)),
    refused: refusedList,
    flags,
  };
}
