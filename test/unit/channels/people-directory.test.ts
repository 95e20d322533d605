import { describe, expect, it } from 'vitest';
import { createPeopleDirectory } from '../../../src/channels/people-directory.ts';
import { personSchema, type Person } from '../../../src/projects/mapping-schema.ts';

// As the registry answers: GitHub logins fold case, Jira accountIds and unknown systems do not.
const directory = createPeopleDirectory((namespace) => ({ caseInsensitive: namespace === 'github' }));
const person = (fields: Record<string, unknown>): Person => personSchema.parse(fields);

describe('people directory without people', () => {
  const people = directory.of([]);

  it('finds the mapping’s spelling of a reviewer under the rules of the actor’s own system', () => {
    expect(people.findAmong({ namespace: 'github', id: 'alice' }, ['Alice', 'bob'], 'github')).toBe('Alice');
    expect(people.findAmong({ namespace: 'jira', id: 'acc-alice' }, ['ACC-ALICE'], 'jira')).toBeUndefined();
    expect(people.findAmong({ namespace: 'slack', id: 'u012' }, ['U012'], 'slack')).toBeUndefined();
  });

  it('grants nothing to an actor not in its normalised form, but counts look-alikes as one person when that refuses more', () => {
    expect(people.findAmong({ namespace: 'github', id: 'ａｌｉｃｅ' }, ['alice'], 'github')).toBeUndefined();
    expect(people.findAmong({ namespace: 'github', id: ' alice' }, ['alice'], 'github')).toBeUndefined();
    expect(people.samePerson('github', 'ａｌｉｃｅ', 'ALICE')).toBe(true);
    expect(people.samePerson('jira', ' acc-1 ', 'acc-1')).toBe(true);
    expect(people.samePerson('jira', 'ACC-1', 'acc-1')).toBe(false);
  });

  it('does not let an identity of one system stand for the same spelling in another', () => {
    // A Slack user whose id happens to equal a GitHub reviewer's login is not that reviewer.
    expect(people.findAmong({ namespace: 'slack', id: 'U012' }, ['U012'], 'github')).toBeUndefined();
  });
});

describe('people directory with people', () => {
  const alice = person({ id: 'alice', github: 'Alice-GH', jira: 'acc-alice', slack: 'U0ALICE', email: 'Alice@Acme.example', admin: true });
  const bob = person({ id: 'bob', github: 'bobby' });
  const people = directory.of([alice, bob]);

  it('matches a person id in the mapping from every channel the person has, and nothing else', () => {
    for (const actor of [
      { namespace: 'github', id: 'alice-gh' },
      { namespace: 'jira', id: 'acc-alice' },
      { namespace: 'slack', id: 'U0ALICE' },
      { namespace: 'email', id: 'alice@acme.example' },
      { namespace: 'person', id: 'alice' },
      { namespace: 'local', id: 'alice' },
    ]) {
      expect(people.findAmong(actor, ['bob', 'alice'], 'github'), JSON.stringify(actor)).toBe('alice');
    }
    // The person id spelled as a GitHub login is not alice's GitHub account.
    expect(people.findAmong({ namespace: 'github', id: 'alice' }, ['alice'], 'github')).toBeUndefined();
    expect(people.findAmong({ namespace: 'slack', id: 'U0BOB' }, ['alice', 'bob'], 'github')).toBeUndefined();
    expect(people.findAmong({ namespace: 'jira', id: 'ACC-ALICE' }, ['alice'], 'jira')).toBeUndefined();
  });

  it('lets a provider-native entry stand for the person whose identity it is', () => {
    expect(people.findAmong({ namespace: 'slack', id: 'U0ALICE' }, ['alice-gh'], 'github')).toBe('alice-gh');
    expect(people.findAmong({ namespace: 'github', id: 'carol' }, ['carol'], 'github')).toBe('carol');
  });

  it('counts one person once, whichever spelling recorded the vote', () => {
    expect(people.samePerson('github', 'alice', 'alice-gh')).toBe(true);
    expect(people.samePerson('github', 'alice', 'bob')).toBe(false);
    expect(people.samePerson('github', 'bobby', 'bob')).toBe(true);
  });

  it('refuses the requester as a person, whatever identity the agent wrote', () => {
    for (const requestedBy of ['alice', 'ALICE-GH', 'acc-alice', 'U0ALICE', 'alice@acme.example']) {
      expect(people.isRequester(requestedBy, { namespace: 'slack', id: 'U0ALICE' }, 'alice', 'github'), requestedBy).toBe(true);
    }
    expect(people.isRequester('bob', { namespace: 'slack', id: 'U0ALICE' }, 'alice', 'github')).toBe(false);
    expect(people.isRequester('agent-7', { namespace: 'github', id: 'carol' }, 'carol', 'github')).toBe(false);
    expect(people.isRequester('Carol', { namespace: 'github', id: 'carol' }, 'carol', 'github')).toBe(true);
  });

  it('addresses reviewers in a channel: people by their field, native entries only in their own system', () => {
    expect(people.addressesOf(['alice', 'bob', 'carol'], 'github', 'slack')).toEqual([{ person: 'alice', address: 'U0ALICE' }]);
    expect(people.addressesOf(['alice', 'alice-gh', 'carol'], 'github', 'github')).toEqual([
      { person: 'alice', address: 'Alice-GH' },
      { person: 'carol', address: 'carol' },
    ]);
  });

  it('knows who is an admin', () => {
    expect(people.person('alice')?.admin).toBe(true);
    expect(people.person('bob')?.admin).toBe(false);
    expect(people.personOf({ namespace: 'email', id: 'ALICE@acme.example' })?.id).toBe('alice');
  });
});
