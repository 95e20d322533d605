/**
 * Whether a decision's actor is Countersign itself rather than a person: `policy` (auto-approval
 * and escalation outcomes, see create-approval.ts and escalation.ts) or a standing grant
 * (`grant:<id>`). A channel names such an actor but never mentions it: `@policy` on GitHub would
 * notify whoever owns that account.
 */
export const isCountersignActor = (actor: string) => actor === 'policy' || actor.startsWith('grant:');
