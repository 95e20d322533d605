import { intakeSchema } from '../contract/intake-schema.ts';
import { unprocessable } from '../primitives/errors.ts';
import type { Person, ProjectMapping } from '../projects/mapping-schema.ts';
import { formatIssues } from '../primitives/validation.ts';
import { matches, resolvePolicy, type ApprovalPolicy } from './resolve-policy.ts';

export interface Explanation {
  project: string;
  rules: Array<{ index: number; when: ProjectMapping['rules'][number]['when']; matched: boolean; set: ProjectMapping['rules'][number]['set'] }>;
  policy: ApprovalPolicy;
  /**
   * Each reviewer entry of the project and its escalation tiers, with the person of the file's
   * people directory it names (by person id), and where that person can decide.
   */
  reviewers: Array<{ entry: string; person?: Person }>;
  /** Standing grants (read from the server's database) that would approve such a request from the agent key each names. */
  grants: Array<{ id: string; apiKeyId: string; grantedBy: string; expiresAt: string }>;
  /** What intake would do, in one sentence per step. */
  outcome: string[];
}

/** The dry run behind `projects explain`: which rules match a sample request and what would happen to it. */
export function explainRequest(projects: ProjectMapping[], sample: unknown, people: readonly Person[] = [], grants: Explanation['grants'] = []): Explanation {
  const parsed = intakeSchema.safeParse(sample);
  if (!parsed.success) throw unprocessable('invalid_request', `request: ${formatIssues(parsed.error).join('; ')}`);
  const request = parsed.data;
  const project = projects.find((p) => p.key === request.project);
  if (!project) throw unprocessable('unknown_project', `request.project: "${request.project}" is not in the mapping file (${projects.map((p) => p.key).join(', ')})`);

  const input = { risk: request.risk, action: request.action, labels: request.labels };
  const policy = resolvePolicy(project, input);
  const outcome: string[] = [];
  const granted = project.grants && !policy.autoApprove ? grants : [];
  for (const grant of granted) {
    outcome.push(`from agent key ${grant.apiKeyId}: approved at intake by standing grant ${grant.id} (granted by ${grant.grantedBy}, until ${grant.expiresAt}); from any other key:`);
  }
  if (policy.autoApprove) {
    outcome.push(`approved at intake by actor policy (${policy.sources.autoApprove}); the agent is called back at once`);
  } else {
    outcome.push(
      policy.batching
        ? `joins the open batch of ${project.key} (one ${project.provider} ticket when ${project.batching!.window} pass or ${project.batching!.maxItems} requests are in it)`
        : `opens a ${project.provider} ticket assigned to ${project.reviewers.join(', ')}`,
    );
    outcome.push(`needs ${policy.requiredApprovals} distinct ${policy.requiredApprovals === 1 ? 'approval' : 'approvals'} (${policy.sources.requiredApprovals}); one rejection ends it`);
    policy.escalation.forEach((tier, i) => {
      outcome.push(
        tier.outcome
          ? `after ${tier.after} still pending: ${tier.outcome === 'reject' ? 'rejected' : 'expired'} by actor policy (tier ${i + 1}, ${policy.sources.escalation})`
          : `after ${tier.after} still pending: escalated to ${tier.reviewers!.join(', ')} (tier ${i + 1}, ${policy.sources.escalation})`,
      );
    });
  }
  for (const refusal of policy.refused) outcome.push(`not applied: ${refusal}`);

  const entries = new Set([...project.reviewers, ...policy.escalation.flatMap((tier) => tier.reviewers ?? [])]);
  const reviewers = [...entries].map((entry) => {
    const person = people.find((p) => p.id === entry);
    return person ? { entry, person } : { entry };
  });

  return {
    project: project.key,
    reviewers,
    grants: granted.map(({ id, apiKeyId, grantedBy, expiresAt }) => ({ id, apiKeyId, grantedBy, expiresAt })),
    rules: project.rules.map((rule, index) => ({ index, when: rule.when, matched: matches(rule.when, input), set: rule.set })),
    policy,
    outcome,
  };
}

export function formatExplanation(explanation: Explanation): string {
  const lines = [`project ${explanation.project}`];
  if (explanation.rules.length === 0) lines.push('  no rules');
  for (const rule of explanation.rules) lines.push(`  rules[${rule.index}] ${rule.matched ? 'matches' : 'no match'}: when ${JSON.stringify(rule.when)} set ${JSON.stringify(rule.set)}`);
  lines.push('reviewers:');
  for (const { entry, person } of explanation.reviewers) {
    if (!person) {
      lines.push(`  ${entry}: not in the people directory, an identity of the project's provider`);
      continue;
    }
    const where = (['github', 'jira', 'slack', 'email'] as const).filter((field) => person[field] !== undefined).map((field) => `${field} ${person[field]}`);
    lines.push(`  ${entry}: person${person.admin ? ' (admin)' : ''}, decides as ${[...where, 'the web inbox'].join(', ')}`);
  }
  lines.push('what would happen:');
  for (const step of explanation.outcome) lines.push(`  - ${step}`);
  return lines.join('\n');
}
