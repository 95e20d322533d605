/**
 * How a ticket system tells people apart. GitHub logins are case-insensitive (`Alice` and
 * `alice` are one account); Jira accountIds are opaque and compared exactly.
 */
export interface IdentityRules {
  caseInsensitive: boolean;
}

/** What a provider that declares nothing gets: exact comparison, the one that never merges two accounts. */
export const EXACT_IDENTITIES: IdentityRules = { caseInsensitive: false };

/**
 * The comparable form of an identity: Unicode NFKC, trimmed, and case-folded where the
 * provider is case-insensitive. `toUpperCase().toLowerCase()` folds the cases `toLowerCase`
 * alone leaves apart (`ß` and `SS`).
 *
 * @example
 * identityKey(' ａｌｉｃｅ ', { caseInsensitive: true }) // 'alice'
 */
export function identityKey(id: string, rules: IdentityRules): string {
  const key = id.normalize('NFKC').trim();
  return rules.caseInsensitive ? key.toUpperCase().toLowerCase() : key;
}

/**
 * Whether two identities are one person under the provider's rules. Use it where a match
 * takes power away (the requester rule, a vote already cast): folding more spellings
 * together only refuses more.
 */
export const sameIdentity = (a: string, b: string, rules: IdentityRules) => identityKey(a, rules) === identityKey(b, rules);

/**
 * The entry of `candidates` (spelled as the mapping spells it) that `actor` is, for a match
 * that grants power (being a reviewer). The actor must arrive in its normalised form (NFKC,
 * no surrounding space): a provider that let someone sign up as `ａｌｉｃｅ` (fullwidth)
 * must not see them accepted as the reviewer `alice`. GitHub logins and Jira accountIds
 * are ASCII, which NFKC leaves alone, so real actors always pass.
 */
export function findIdentity(actor: string, candidates: Iterable<string>, rules: IdentityRules): string | undefined {
  if (actor.normalize('NFKC').trim() !== actor) return undefined;
  const wanted = identityKey(actor, rules);
  for (const candidate of candidates) if (identityKey(candidate, rules) === wanted) return candidate;
  return undefined;
}
