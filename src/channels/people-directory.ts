import type { Kysely } from 'kysely';
import type { Database } from '../db/schema.ts';
import type { Person } from '../projects/mapping-schema.ts';
import { listPeople } from '../projects/people-store.ts';
import { findIdentity, identityKey, sameIdentity, type IdentityRules } from '../primitives/identity-key.ts';

/**
 * An actor as a provider or channel reports it: `id` is its own identity, and `namespace` the
 * system whose rules say which spellings are one account:
 * `github` (a login), `jira` (an accountId), `local` (the CLI's `--as`, the local API's reviewer:
 * a person id or a local login), `slack` (a user id `U…`), `email` (an address), and `person`
 * (a person id as such: the signed-in person of the web inbox).
 */
export interface ActorIdentity {
  namespace: string;
  id: string;
}

/** One person a channel's notice is for, with that channel's address of them (a Slack user id, an email address). */
export interface ChannelRecipient {
  /** The person's id in the people directory, or the mapping's reviewer entry for someone not in it. */
  person: string;
  address: string;
}

/** The channels a person can be reached at, as the directory's fields name them. */
export type PersonAddress = 'github' | 'jira' | 'slack' | 'email';

/**
 * The directory as the database holds it at one moment: read it in the transaction that acts
 * on it (`PeopleDirectory.load`), so a decision and the mapping it is checked against agree.
 *
 * A mapping's reviewer entry (in `reviewers:` or an escalation tier) is a person id when the
 * directory has that id, and otherwise an identity in the project's provider (`candidatesNamespace`),
 * as before the directory existed. An actor is a person when one person's `github`/`jira`/
 * `slack`/`email` is that identity (`local` and `person` actors: when a person has that id).
 */
export interface People {
  /**
   * The entry of `candidates` (as the mapping spells it) that `actor` is, for a match that
   * grants power (being a reviewer): strict, an actor not in its normalised form matches nothing.
   */
  findAmong(actor: ActorIdentity, candidates: Iterable<string>, candidatesNamespace: string): string | undefined;
  /**
   * Whether `a` and `b`, both mapping entries or identities in `namespace`, are one person. Use it
   * where a match takes power away (a vote already cast): folding more spellings together only
   * refuses more.
   */
  samePerson(namespace: string, a: string, b: string): boolean;
  /**
   * Whether `actor` (matched as the entry `reviewer`) is the requester, whose `requestedBy` the
   * agent wrote freely: a person id, or any identity of a person in any system, or the actor's own
   * identity in any spelling. Folding more together only refuses more.
   */
  isRequester(requestedBy: string, actor: ActorIdentity, reviewer: string, candidatesNamespace: string): boolean;
  /** The person `actor` is, if the directory knows them. */
  personOf(actor: ActorIdentity): Person | undefined;
  /** The person a mapping entry names: a person id, or a person with that identity in `namespace`. */
  personOfEntry(entry: string, namespace: string): Person | undefined;
  person(id: string): Person | undefined;
  /**
   * How to reach the people `entries` name at `address`: a person's own field, or, for
   * `address` equal to the entries' namespace, a native entry itself (a GitHub login is its own
   * GitHub address). Entries that cannot be reached there are left out; one person appears once.
   */
  addressesOf(entries: Iterable<string>, candidatesNamespace: string, address: PersonAddress): ChannelRecipient[];
  /**
   * The mapping's entries as the provider `namespace` knows them, for its tickets: a person's
   * identity there (a person without one is dropped: GitHub cannot assign them), a native entry
   * as it is. `keepUnknown`: keep such a person under their id instead (for naming who decided).
   */
  identitiesIn(entries: Iterable<string>, namespace: string, options?: { keepUnknown?: boolean }): string[];
  readonly all: readonly Person[];
}

/** The one place that turns a provider's or channel's actor into a person. */
export interface PeopleDirectory {
  /** The directory as the database (or the caller's transaction) holds it now. */
  load(db: Kysely<Database>): Promise<People>;
  /** A directory of the given people: read by the caller with more besides (the decision engine), or a mapping file not yet applied (`projects explain`). */
  of(people: readonly Person[]): People;
}

const isAddress = (namespace: string): namespace is PersonAddress => namespace === 'github' || namespace === 'jira' || namespace === 'slack' || namespace === 'email';

/** Email addresses compare case-insensitively (in practice every provider folds the local part too); everything else as its system says. */
const ADDRESS_RULES: Record<string, IdentityRules> = { email: { caseInsensitive: true }, person: { caseInsensitive: false } };

/**
 * @example
 * const people = createPeopleDirectory((name) => providers.identities(name));
 * (await people.load(db)).findAmong({ namespace: 'github', id: 'alice' }, ['Alice', 'bob'], 'github') // 'Alice'
 */
export function createPeopleDirectory(identities: (namespace: string) => IdentityRules): PeopleDirectory {
  const rulesOf = (namespace: string) => ADDRESS_RULES[namespace] ?? identities(namespace);
  return {
    load: async (db) => peopleOf(await listPeople(db), rulesOf),
    of: (people) => peopleOf(people, rulesOf),
  };
}

function peopleOf(all: readonly Person[], rulesOf: (namespace: string) => IdentityRules): People {
  const byId = new Map(all.map((person) => [person.id, person]));
  // One index per address field, by the comparable form under that system's rules.
  const byAddress = new Map<string, Map<string, Person>>();
  for (const field of ['github', 'jira', 'slack', 'email'] as const) {
    const index = new Map<string, Person>();
    for (const person of all) if (person[field] !== undefined) index.set(identityKey(person[field], rulesOf(field)), person);
    byAddress.set(field, index);
  }

  const personOf = (actor: ActorIdentity): Person | undefined => {
    // Person ids are lowercase (personSchema): a local login folds to one where local logins fold case.
    if (actor.namespace === 'person' || actor.namespace === 'local') return byId.get(identityKey(actor.id, rulesOf(actor.namespace)));
    return byAddress.get(actor.namespace)?.get(identityKey(actor.id, rulesOf(actor.namespace)));
  };
  const personOfEntry = (entry: string, namespace: string) => byId.get(entry) ?? (namespace === 'person' ? undefined : personOf({ namespace, id: entry }));
  const samePerson = (namespace: string, a: string, b: string) => {
    if (sameIdentity(a, b, rulesOf(namespace))) return true;
    const pa = personOfEntry(a, namespace);
    return pa !== undefined && pa === personOfEntry(b, namespace);
  };

  return {
    all,
    person: (id) => byId.get(id),
    personOf,
    personOfEntry,
    samePerson,
    findAmong(actor, candidates, candidatesNamespace) {
      if (actor.id.normalize('NFKC').trim() !== actor.id) return undefined;
      const person = personOf(actor);
      const natives: string[] = [];
      for (const candidate of candidates) {
        const named = personOfEntry(candidate, candidatesNamespace);
        if (person !== undefined && named === person) return candidate;
        // A person id names that person only; an identity names its account only.
        if (!byId.has(candidate) && actor.namespace === candidatesNamespace && (named === undefined || person === undefined)) natives.push(candidate);
      }
      return findIdentity(actor.id, natives, rulesOf(actor.namespace));
    },
    isRequester(requestedBy, actor, reviewer, candidatesNamespace) {
      if (sameIdentity(requestedBy, actor.id, rulesOf(actor.namespace)) || samePerson(candidatesNamespace, requestedBy, reviewer)) return true;
      const person = personOf(actor) ?? personOfEntry(reviewer, candidatesNamespace);
      if (person === undefined) return false;
      if (sameIdentity(requestedBy, person.id, rulesOf('person'))) return true;
      return (['github', 'jira', 'slack', 'email'] as const).some((field) => person[field] !== undefined && sameIdentity(requestedBy, person[field], rulesOf(field)));
    },
    addressesOf(entries, candidatesNamespace, address) {
      const found = new Map<string, ChannelRecipient>();
      for (const entry of entries) {
        const person = personOfEntry(entry, candidatesNamespace);
        if (person) {
          if (person[address] !== undefined && !found.has(person.id)) found.set(person.id, { person: person.id, address: person[address] });
        } else if (address === candidatesNamespace && !found.has(entry)) {
          found.set(entry, { person: entry, address: entry });
        }
      }
      return [...found.values()];
    },
    identitiesIn(entries, namespace, options = {}) {
      const out: string[] = [];
      for (const entry of entries) {
        const person = byId.get(entry);
        const identity = person === undefined ? entry : isAddress(namespace) ? person[namespace] : person.id;
        const named = identity ?? (options.keepUnknown ? entry : undefined);
        if (named !== undefined && !out.includes(named)) out.push(named);
      }
      return out;
    },
  };
}
