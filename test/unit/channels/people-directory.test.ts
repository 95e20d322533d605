import { describe, expect, it } from 'vitest';
import { createPeopleDirectory } from '../../../src/channels/people-directory.ts';

describe('people directory', () => {
  // As the registry answers: GitHub logins fold case, Jira accountIds and unknown systems do not.
  const people = createPeopleDirectory((namespace) => ({ caseInsensitive: namespace === 'github' }));

  it('finds the mapping’s spelling of a reviewer under the rules of the actor’s own system', () => {
    expect(people.findAmong({ namespace: 'github', id: 'alice' }, ['Alice', 'bob'])).toBe('Alice');
    expect(people.findAmong({ namespace: 'jira', id: 'acc-alice' }, ['ACC-ALICE'])).toBeUndefined();
    expect(people.findAmong({ namespace: 'slack', id: 'u012' }, ['U012'])).toBeUndefined();
  });

  it('grants nothing to an actor not in its normalised form, but counts look-alikes as one person when that refuses more', () => {
    expect(people.findAmong({ namespace: 'github', id: 'ａｌｉｃｅ' }, ['alice'])).toBeUndefined();
    expect(people.findAmong({ namespace: 'github', id: ' alice' }, ['alice'])).toBeUndefined();
    expect(people.samePerson('github', 'ａｌｉｃｅ', 'ALICE')).toBe(true);
    expect(people.samePerson('jira', ' acc-1 ', 'acc-1')).toBe(true);
    expect(people.samePerson('jira', 'ACC-1', 'acc-1')).toBe(false);
  });
});
