import { z } from 'zod';
import { parseDuration } from '../primitives/duration.ts';
import { safeText } from '../primitives/safe-text.ts';
import { jsonSchemaProblem } from '../primitives/json-schema.ts';
import { identityKey } from '../primitives/identity-key.ts';
import { reviewSettingsSchema } from './review-settings.ts';

const PROJECT_KEY = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** What a project key looks like; anything else names no project and never reaches a query. */
export const isProjectKey = (text: string) => PROJECT_KEY.test(text);

// Logins, label, status and repository names: single-line text the database can store.
const name = () => safeText({ min: 1, max: 255 });

const RISKS = ['low', 'medium', 'high'] as const;

const duration = safeText({ max: 32 }).refine((text) => parseDuration(text) !== undefined, 'expected a duration such as 45s, 30m, 4h or 2d');
const logins = z.array(name()).min(1, 'expected at least one reviewer');

const escalationTier = z
  .strictObject({
    after: duration,
    reviewers: logins.optional(),
    outcome: z.enum(['reject', 'expire']).optional(),
  })
  .refine((tier) => tier.reviewers !== undefined || tier.outcome !== undefined, 'a tier needs reviewers or an outcome');

const escalation = z.array(escalationTier).superRefine((tiers, ctx) => {
  tiers.forEach((tier, i) => {
    if (tier.outcome && i !== tiers.length - 1) ctx.addIssue({ code: 'custom', path: [i, 'outcome'], message: 'only the last tier may decide an outcome' });
  });
});

const match = z.strictObject({
  risk: z.array(z.enum(RISKS)).optional(),
  action: z.array(name()).optional(),
  labels: z.array(name()).optional(),
});

const batching = z.strictObject({
  when: match,
  window: duration,
  maxItems: z.int().min(2).max(100).default(25),
});

const rule = z.strictObject({
  when: match,
  set: z
    .strictObject({
      escalation: escalation.optional(),
      requiredApprovals: z.int().min(1).optional(),
      batching: z.boolean().optional(),
      autoApprove: z.boolean().optional(),
    })
    .refine((set) => Object.keys(set).length > 0, 'expected at least one setting'),
});

const labels = z
  .strictObject({
    approved: name().default('approved'),
    rejected: name().default('rejected'),
    pending: name().default('approval:pending'),
  })
  .default({ approved: 'approved', rejected: 'rejected', pending: 'approval:pending' });

/**
 * Where else a project's requests are shown, besides its ticket: Slack (its buttons decide
 * through the same engine) and email (a link to the web inbox's approval page).
 */
const notify = z.strictObject({
  slack: z.strictObject({ channel: name() }).optional(),
  email: z.boolean().optional(),
});

/** A JSON Schema an edited payload must satisfy (CONTRACT.md "Approve with changes"). */
export const payloadSchemaSchema = z.unknown().superRefine((schema, ctx) => {
  const problem = jsonSchemaProblem(schema);
  if (problem) ctx.addIssue({ code: 'custom', message: `not a JSON Schema this server can use: ${problem}` });
});

/** How long a reviewer's standing grant may last at most (CONTRACT.md "Standing grants"). */
const grantPolicy = z.strictObject({ maxHours: z.int().min(1).max(720) });

const common = {
  key: z.string().regex(PROJECT_KEY, 'expected lowercase letters, digits, ".", "_" or "-" (at most 63)'),
  reviewers: logins,
  requiredApprovals: z.int().min(1).default(1),
  labels,
  escalation: escalation.optional(),
  batching: batching.optional(),
  rules: z.array(rule).default([]),
  notify: notify.optional(),
  /** Reviewers may approve with changes to the payload (off unless set). */
  allowEdits: z.boolean().optional(),
  payloadSchema: payloadSchemaSchema.optional(),
  grants: grantPolicy.optional(),
};

const localProject = z.strictObject({ ...common, provider: z.literal('local') });
const githubProject = z.strictObject({
  ...common,
  provider: z.literal('github'),
  github: z.strictObject({ owner: name(), repo: name() }),
});
const jiraProject = z.strictObject({
  ...common,
  provider: z.literal('jira'),
  jira: z.strictObject({
    project: name(),
    issueType: name().default('Task'),
    approvedStatus: name(),
    rejectedStatus: name(),
  }),
});

// The message in this channel is the ticket (src/providers/slack/). A channel id (`C…`, `G…`), not a
// `#name`: names change and can be reused, the id is what the Web API addresses.
const slackProject = z.strictObject({
  ...common,
  provider: z.literal('slack'),
  slack: z.strictObject({ channel: z.string().regex(/^[CGD][A-Z0-9]{2,30}$/, 'expected a Slack channel id such as C0123ABCD (channel details → About, at the bottom)') }),
});

export const projectMappingSchema = z
  .discriminatedUnion('provider', [localProject, githubProject, jiraProject, slackProject], {
    error: (issue) => (issue.code === 'invalid_union' ? 'expected provider local, github, jira or slack' : undefined),
  })
  .superRefine((project, ctx) => {
    // Distinct: [alice, alice] with requiredApprovals 2 could never be approved. A rule
    // raising requiredApprovals is held to the same count.
    const distinct = new Set(project.reviewers).size;
    const demands: Array<[number, PropertyKey[]]> = [[project.requiredApprovals, ['requiredApprovals']]];
    project.rules.forEach((r, i) => r.set.requiredApprovals !== undefined && demands.push([r.set.requiredApprovals, ['rules', i, 'set', 'requiredApprovals']]));
    for (const [required, path] of demands) {
      if (required > distinct) ctx.addIssue({ code: 'custom', path, message: `needs ${required} distinct reviewers but only ${distinct} are listed` });
    }
  });

const PERSON_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** One person of the people directory (CONTRACT.md "People"): their identity in each channel they decide in. */
export const personSchema = z.strictObject({
  id: z.string().regex(PERSON_ID, 'expected lowercase letters, digits, ".", "_" or "-" (at most 63)'),
  github: name().optional(),
  jira: name().optional(),
  slack: z.string().regex(/^[UW][A-Z0-9]{2,30}$/, 'expected a Slack user id such as U012AB3CD (not a display name)').optional(),
  email: z.email('expected an email address').max(254).optional(),
  admin: z.boolean().default(false),
});

/**
 * No two people share an identity: the one a vote came from would be ambiguous. Identities
 * compare as the directory compares them (case-folded where the system folds case), and a person
 * id may not be someone else's identity either, since a reviewer entry naming it would be read
 * as the person.
 */
/** Which of a person's addresses ignore case, as their systems do (GitHub logins, email), for the file's own check. */
const ADDRESS_CASE = { github: true, jira: false, slack: false, email: true } as const;

function checkPeople(people: Person[], ctx: z.RefinementCtx) {
  const owners = new Map<string, string>();
  const fold = (field: keyof typeof ADDRESS_CASE, value: string) => `${field}:${identityKey(value, { caseInsensitive: ADDRESS_CASE[field] })}`;
  people.forEach((person, i) => {
    const id = `id:${person.id}`;
    if (owners.has(id)) ctx.addIssue({ code: 'custom', path: ['people', i, 'id'], message: `duplicate person id ${person.id}` });
    owners.set(id, person.id);
  });
  people.forEach((person, i) => {
    for (const field of ['github', 'jira', 'slack', 'email'] as const) {
      const value = person[field];
      if (value === undefined) continue;
      const key = fold(field, value);
      const owner = owners.get(key);
      if (owner !== undefined && owner !== person.id) ctx.addIssue({ code: 'custom', path: ['people', i, field], message: `${field} ${value} is already ${owner}'s` });
      owners.set(key, person.id);
      const other = people.find((p) => p.id === value && p.id !== person.id);
      if (other) ctx.addIssue({ code: 'custom', path: ['people', i, field], message: `${value} is also a person id; a reviewer entry ${value} would be ambiguous` });
    }
  });
}

export const mappingFileSchema = z
  .strictObject({
    /** Absent: the directory stays as it is. Present (even empty): it becomes exactly this list. */
    people: z.array(personSchema).optional(),
    projects: z.array(projectMappingSchema).min(1, 'expected at least one project'),
    // The weekly review's thresholds and destination (src/projects/review-settings.ts).
    review: reviewSettingsSchema.optional(),
  })
  .superRefine((file, ctx) => {
    const seen = new Set<string>();
    file.projects.forEach((project, i) => {
      if (seen.has(project.key)) ctx.addIssue({ code: 'custom', path: ['projects', i, 'key'], message: `duplicate project key ${project.key}` });
      seen.add(project.key);
    });
    if (file.people) checkPeople(file.people, ctx);
  });

/**
 * Whether a request may be granted or approved by a standing grant at all: a grant stands in for
 * one person's yes, so never for a high-risk request or one that needs more than one approval.
 */
export function grantable(risk: (typeof RISKS)[number], requiredApprovals: number): boolean {
  return risk !== 'high' && requiredApprovals === 1;
}

/** What a reviewer may do beyond yes and no on one approval of `project`, for the channels that offer it. */
export function decisionChoices(project: ProjectMapping, approval: { payload: unknown; risk: (typeof RISKS)[number]; required_approvals: number }): { edit: boolean; grantMaxHours?: number } {
  return {
    edit: project.allowEdits === true && approval.payload !== null,
    ...(project.grants && grantable(approval.risk, approval.required_approvals) ? { grantMaxHours: project.grants.maxHours } : {}),
  };
}

/** The grant lengths a channel offers, up to `max` hours: the steps a person picks from (web inbox, Slack). */
export const grantSteps = (max: number) => [...new Set([1, 4, 8, 24, 72, 168, 720].filter((hours) => hours <= max).concat(max))].sort((x, y) => x - y);

export type ProjectMapping = z.infer<typeof projectMappingSchema>;
export type ProviderName = ProjectMapping['provider'];
export type MappingFile = z.infer<typeof mappingFileSchema>;
export type Person = z.infer<typeof personSchema>;
