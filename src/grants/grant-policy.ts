import type { GrantRequest } from '../contract/grant-schema.ts';
import type { ApprovalRow } from '../db/schema.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import { limitProblem } from './grant-limits.ts';

/**
 * Why a reviewer may not attach `grant` to approving `approval`, or `undefined` when they may.
 * A grant stands in for one person's yes on low- and medium-risk requests: never for a
 * high-risk one, never where the request needs more than one approval, never longer than the
 * project's `grants.maxHours`, and never with limits the request itself breaks. `payload` is
 * the payload being approved (edited, if it was).
 */
export function grantProblem(project: ProjectMapping, approval: Pick<ApprovalRow, 'risk' | 'required_approvals'>, payload: unknown, grant: GrantRequest, outcome: 'approve' | 'reject'): string | undefined {
  if (outcome !== 'approve') return 'a standing grant comes with an approval, not a rejection';
  if (!project.grants) return `project ${project.key} does not allow standing grants (its mapping has no grants:)`;
  if (approval.risk === 'high') return 'no standing grant for a high-risk request: each one needs its own decision';
  if (approval.required_approvals > 1) return `this request needs ${approval.required_approvals} approvals; a standing grant would stand in for one person's`;
  if (grant.hours > project.grants.maxHours) return `a grant of project ${project.key} lasts at most ${project.grants.maxHours} hours (asked: ${grant.hours})`;
  const outside = limitProblem(grant.limits ?? {}, payload);
  if (outside) return `this request itself is outside the grant's limits: ${outside}`;
  return undefined;
}

