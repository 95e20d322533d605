import { describe, expect, it } from 'vitest';
import { GITHUB_IDENTITIES } from '../../../src/providers/github/github-activity.ts';
import { findIdentity, identityKey, sameIdentity } from '../../../src/primitives/identity-key.ts';

const JIRA = { caseInsensitive: false };

describe('identity keys', () => {
  it('fold GitHub logins: NFKC, trimmed, case-insensitive', () => {
    expect(identityKey(' ａｌｉｃｅ ', GITHUB_IDENTITIES)).toBe('alice');
    expect(sameIdentity('ALICE', 'alice', GITHUB_IDENTITIES)).toBe(true);
    expect(sameIdentity('alice', 'alicia', GITHUB_IDENTITIES)).toBe(false);
  });

  it('keep Jira accountIds case-sensitive (opaque ids), after NFKC and trim', () => {
    expect(sameIdentity('5b10ac8d82e05b22cc7d4ef5', '5B10AC8D82E05B22CC7D4EF5', JIRA)).toBe(false);
    expect(sameIdentity(' 5b10ac8d82e05b22cc7d4ef5', '5b10ac8d82e05b22cc7d4ef5', JIRA)).toBe(true);
  });

  it('grant a reviewer match only to an actor already in normalised form: a fullwidth sign-up is not the reviewer alice', () => {
    expect(findIdentity('alice', ['Alice', 'bob'], GITHUB_IDENTITIES)).toBe('Alice');
    expect(findIdentity('ALICE', ['alice'], GITHUB_IDENTITIES)).toBe('alice');
    expect(findIdentity('ａｌｉｃｅ', ['alice'], GITHUB_IDENTITIES)).toBeUndefined();
    expect(findIdentity('ａｌｉｃｅ', ['alice'], JIRA)).toBeUndefined();
    expect(findIdentity(' alice', ['alice'], GITHUB_IDENTITIES)).toBeUndefined();
    // The mapping side is the operator's: a fullwidth spelling there still names alice.
    expect(findIdentity('alice', ['ａｌｉｃｅ'], GITHUB_IDENTITIES)).toBe('ａｌｉｃｅ');
    expect(findIdentity('acc-alice', ['ACC-ALICE'], JIRA)).toBeUndefined();
  });
});
