import { findIdentity, sameIdentity, type IdentityRules } from '../providers/identity-key.ts';

/**
 * An actor as a provider or channel reports it: `id` is its own identity (a GitHub login, a
 * Jira accountId, a local login; later a Slack user id or an email address), and `namespace`
 * the system whose rules say which spellings are one account: the provider's or channel's name.
 */
export interface ActorIdentity {
  namespace: string;
  id: string;
}

/**
 * The one place that turns a provider's or channel's actor into a person. The decision engine,
 * relabelling and escalation ask it; nothing else compares identities.
 *
 * Today a person is an identity under its provider's rules (identity-key.ts: NFKC, trimmed,
 * case-folded where the adapter says logins fold case), and the mapping's reviewers are
 * spelled as the provider spells them. The people directory of the mapping file (CONTRACT.md
 * "People": `people: [{ id, github, jira, slack, email }]`, reviewers naming person ids) is
 * meant to arrive behind this same interface: `findAmong` then also matches a reviewer entry
 * that is a person id whose `github`/`jira`/`slack`/`email` is the actor, and `samePerson`
 * compares persons, so one person counts once toward `requiredApprovals` whichever channels
 * they decide in and the requester rule applies to the person.
 */
export interface PeopleDirectory {
  /**
   * The entry of `candidates` (as the mapping spells it) that `actor` is, for a match that
   * grants power (being a reviewer): strict, an actor not in its normalised form matches nothing.
   */
  findAmong(actor: ActorIdentity, candidates: Iterable<string>): string | undefined;
  /**
   * Whether `a` and `b`, both identities in `namespace` or the mapping's spellings of them, are
   * one person. Use it where a match takes power away (the requester rule, a vote already
   * cast): folding more spellings together only refuses more.
   */
  samePerson(namespace: string, a: string, b: string): boolean;
}

/**
 * The directory as it is before the mapping has `people:`: each namespace's identity rules,
 * from the provider registry (an unknown namespace compares exactly).
 *
 * @example
 * const people = createPeopleDirectory((name) => providers.identities(name));
 * people.findAmong({ namespace: 'github', id: 'alice' }, ['Alice', 'bob']) // 'Alice'
 */
export function createPeopleDirectory(identities: (namespace: string) => IdentityRules): PeopleDirectory {
  return {
    findAmong: (actor, candidates) => findIdentity(actor.id, candidates, identities(actor.namespace)),
    samePerson: (namespace, a, b) => sameIdentity(a, b, identities(namespace)),
  };
}
