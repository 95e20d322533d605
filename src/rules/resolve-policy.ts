import type { StoredPolicy } from '../db/schema.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';

type Rule = ProjectMapping['rules'][number];
type Match = Rule['when'];
export type EscalationTier = NonNullable<ProjectMapping['escalation']>[number];

/** What a rule or the project matches against: the request, plus labels people added on the ticket. */
export interface PolicyInput {
  risk: 'low' | 'medium' | 'high';
  action: string;
  labels: readonly string[];
}

/** Where a setting came from: the project's own value, or the first matching rule. */
export type SettingSource = 'project' | `rules[${number}]`;

/** How one approval is handled, with the reason for each setting. */
export interface ApprovalPolicy {
  requiredApprovals: number;
  /** Tiers in order; each `after` counts from the request's creation. */
  escalation: EscalationTier[];
  batching: boolean;
  autoApprove: boolean;
  sources: { requiredApprovals: SettingSource; escalation: SettingSource; batching: SettingSource; autoApprove: SettingSource };
  /** Indexes of every rule whose `when` matched, in order. */
  matchedRules: number[];
  /** Settings a rule asked for that were not applied, and why. */
  refused: string[];
}

/**
 * A `when` matches when every condition it names holds: the risk is one of `risk`, the
 * action one of `action`, and every label in `labels` is on the request or ticket.
 */
export function matches(when: Match, input: PolicyInput): boolean {
  if (when.risk && !when.risk.includes(input.risk)) return false;
  if (when.action && !when.action.includes(input.action)) return false;
  if (when.labels && !when.labels.every((label) => input.labels.includes(label))) return false;
  return true;
}

/**
 * Evaluates the project's rules in order; for each setting the first matching rule that
 * sets it wins, else the project's own value. Auto-approval is never applied to high risk,
 * whatever a rule says, and never together with a quorum above one.
 */
export function resolvePolicy(project: ProjectMapping, input: PolicyInput): ApprovalPolicy {
  const policy: ApprovalPolicy = {
    requiredApprovals: project.requiredApprovals,
    escalation: project.escalation ?? [],
    batching: project.batching ? matches(project.batching.when, input) : false,
    autoApprove: false,
    sources: { requiredApprovals: 'project', escalation: 'project', batching: 'project', autoApprove: 'project' },
    matchedRules: [],
    refused: [],
  };
  const taken = new Set<keyof ApprovalPolicy['sources']>();
  project.rules.forEach((rule, index) => {
    if (!matches(rule.when, input)) return;
    policy.matchedRules.push(index);
    const source = `rules[${index}]` as const;
    const set = rule.set;
    if (set.requiredApprovals !== undefined && !taken.has('requiredApprovals')) {
      taken.add('requiredApprovals');
      policy.requiredApprovals = set.requiredApprovals;
      policy.sources.requiredApprovals = source;
    }
    if (set.escalation !== undefined && !taken.has('escalation')) {
      taken.add('escalation');
      policy.escalation = set.escalation;
      policy.sources.escalation = source;
    }
    if (set.batching !== undefined && !taken.has('batching')) {
      taken.add('batching');
      policy.batching = set.batching && project.batching !== undefined;
      if (set.batching && !project.batching) policy.refused.push(`${source}: batching needs the project's batching settings (window, maxItems)`);
      policy.sources.batching = source;
    }
    if (set.autoApprove !== undefined && !taken.has('autoApprove')) {
      taken.add('autoApprove');
      policy.sources.autoApprove = source;
      if (set.autoApprove && input.risk === 'high') policy.refused.push(`${source}: autoApprove is never applied to risk high`);
      else policy.autoApprove = set.autoApprove;
    }
  });
  if (policy.autoApprove && policy.requiredApprovals > 1) {
    policy.refused.push(`${policy.sources.autoApprove}: autoApprove is not applied where ${policy.requiredApprovals} reviewers are required`);
    policy.autoApprove = false;
  }
  const reviewers = new Set([...project.reviewers, ...policy.escalation.flatMap((tier) => tier.reviewers ?? [])]);
  if (policy.requiredApprovals > reviewers.size) {
    policy.refused.push(`requiredApprovals ${policy.requiredApprovals} exceeds the ${reviewers.size} reviewers who could decide; using ${reviewers.size}`);
    policy.requiredApprovals = reviewers.size;
  }
  // Auto-approved requests are decided at once; batching them would only delay that.
  if (policy.autoApprove) policy.batching = false;
  return policy;
}

/** What an approval keeps of its policy: enough to run its timers and explain it later. */
export function storedPolicy(policy: ApprovalPolicy): StoredPolicy {
  return { escalation: policy.escalation, matchedRules: policy.matchedRules, batching: policy.batching, autoApprove: policy.autoApprove };
}
