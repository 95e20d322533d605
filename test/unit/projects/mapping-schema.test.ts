import { describe, expect, it } from 'vitest';
import { CountersignError } from '../../../src/primitives/errors.ts';
import type { ProviderName } from '../../../src/projects/mapping-schema.ts';
import { MINIMAL_MAPPING_FILE, parseMappingFile, parseProjectMapping } from '../../../src/projects/project-store.ts';

const ALL = new Set<ProviderName>(['local', 'github', 'jira']);

/** The error a mapping file is refused with. */
const refusal = (text: string, available: ReadonlySet<ProviderName> = ALL): CountersignError => {
  try {
    parseMappingFile(text, available);
  } catch (error) {
    expect(error).toBeInstanceOf(CountersignError);
    return error as CountersignError;
  }
  throw new Error('expected the mapping file to be refused');
};

const local = (extra = '') => `projects:\n  - key: billing-bot\n    provider: local\n    reviewers: [alice, bob]\n${extra}`;

describe('parseMappingFile', () => {
  it('accepts the contract example and fills in the defaults', () => {
    const {
      projects: [project, second],
    } = parseMappingFile(
      `projects:
  - key: billing-bot
    provider: github
    github: { owner: acme, repo: approvals }
    reviewers: [alice, bob]
    requiredApprovals: 1
    labels: { approved: approved, rejected: rejected, pending: "approval:pending" }
    escalation:
      - after: 30m
        reviewers: [carol]
      - after: 4h
        outcome: reject
    batching:
      when: { risk: [low] }
      window: 10m
      maxItems: 25
    rules:
      - when: { labels: [urgent] }
        set: { escalation: [ { after: 5m, reviewers: [carol] } ] }
      - when: { risk: [high] }
        set: { requiredApprovals: 2 }
  - key: ops
    provider: jira
    jira: { project: OPS, approvedStatus: Approved, rejectedStatus: Rejected }
    reviewers: [acc-1]
`,
      ALL,
    );
    expect(project).toMatchObject({ key: 'billing-bot', provider: 'github', github: { owner: 'acme', repo: 'approvals' }, requiredApprovals: 1 });
    expect(second).toMatchObject({ key: 'ops', provider: 'jira', requiredApprovals: 1, rules: [], labels: { approved: 'approved', pending: 'approval:pending' } });
    expect(second).toMatchObject({ jira: { issueType: 'Task' } });
  });

  it('names the field path of a wrong type', () => {
    const error = refusal('projects:\n  - key: billing-bot\n    provider: local\n    reviewers: alice\n');
    expect(error.status).toBe(422);
    expect(error.message).toBe('projects[0].reviewers: expected array, received string');
  });

  it('names the path inside nested lists', () => {
    expect(refusal(local('  - key: second\n    provider: local\n    reviewers: [carol, 7]\n')).message).toBe('projects[1].reviewers[1]: expected string, received number');
  });

  it('reports every problem, one per line', () => {
    const lines = refusal('projects:\n  - key: Bad Key\n    provider: local\n    reviewers: []\n').message.split('\n');
    expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^projects\[0\]\.key: /), expect.stringMatching(/^projects\[0\]\.reviewers: expected at least one reviewer/)]));
  });

  it.each(['trello', ''])('refuses an unknown provider %j at projects[0].provider', (provider) => {
    expect(refusal(`projects:\n  - key: a\n    provider: "${provider}"\n    reviewers: [alice]\n`).message).toBe('projects[0].provider: expected provider local, github, jira or slack');
  });

  it('refuses a provider this server is not configured for, naming the ones it has', () => {
    const error = refusal('projects:\n  - key: a\n    provider: github\n    github: { owner: acme, repo: r }\n    reviewers: [alice]\n', new Set(['local']));
    expect(error.code).toBe('provider_unavailable');
    expect(error.message).toMatch(/^projects\[0\]\.provider: provider github is not configured.*available: local/);
  });

  it('refuses a provider block that is missing', () => {
    expect(refusal('projects:\n  - key: a\n    provider: github\n    reviewers: [alice]\n').message).toMatch(/^projects\[0\]\.github: expected object/);
  });

  it('refuses a misspelt field instead of dropping it', () => {
    expect(refusal(local('    requiredAprovals: 2\n')).message).toMatch(/^projects\[0\]: .*"requiredAprovals"/);
  });

  it('refuses the same project key twice, naming the second', () => {
    expect(refusal(local('  - key: billing-bot\n    provider: local\n    reviewers: [carol]\n')).message).toBe('projects[1].key: duplicate project key billing-bot');
  });

  it('refuses requiredApprovals above the number of reviewers', () => {
    expect(refusal(local('    requiredApprovals: 3\n')).message).toMatch(/^projects\[0\]\.requiredApprovals: needs 3 distinct reviewers but only 2/);
  });

  it('counts a reviewer listed twice once: two approvals from [alice, alice] could never happen', () => {
    expect(refusal('projects:\n  - key: a\n    provider: local\n    reviewers: [alice, alice]\n    requiredApprovals: 2\n').message).toMatch(/^projects\[0\]\.requiredApprovals: needs 2 distinct reviewers but only 1/);
  });

  it('refuses a rule that asks for more approvals than there are reviewers', () => {
    const error = refusal(local('    rules:\n      - when: { risk: [low] }\n        set: { autoApprove: true }\n      - when: { risk: [high] }\n        set: { requiredApprovals: 3 }\n'));
    expect(error.message).toMatch(/^projects\[0\]\.rules\[1\]\.set\.requiredApprovals: needs 3 distinct reviewers but only 2/);
  });

  it.each([
    ['escalation[0].after', '    escalation:\n      - after: 30 minutes\n        reviewers: [carol]\n'],
    ['escalation[0].after', '    escalation:\n      - after: 1w\n        outcome: expire\n'],
    ['batching.window', '    batching:\n      when: { risk: [low] }\n      window: 10\n'],
    ['rules[0].set.escalation[0].after', '    rules:\n      - when: { labels: [urgent] }\n        set: { escalation: [ { after: soon, reviewers: [carol] } ] }\n'],
  ])('refuses a bad duration at projects[0].%s', (where, extra) => {
    expect(refusal(local(extra)).message).toMatch(new RegExp(`^projects\\[0\\]\\.${where.replace(/[[\].]/g, '\\$&')}: `));
  });

  it('allows an outcome only on the last escalation tier', () => {
    expect(refusal(local('    escalation:\n      - after: 1h\n        outcome: reject\n      - after: 2h\n        reviewers: [carol]\n')).message).toMatch(/^projects\[0\]\.escalation\[0\]\.outcome: /);
  });

  it('refuses duplicate YAML keys rather than keeping the last one', () => {
    const error = refusal('projects:\n  - key: a\n    provider: local\n    reviewers: [alice]\n    reviewers: [mallory]\n');
    expect(error.code).toBe('invalid_mapping');
    expect(error.message).toMatch(/not valid YAML: .*unique.*line 5/);
  });

  it.each([
    ['', 'the mapping file is empty'],
    ['# nothing yet\n', 'the mapping file is empty'],
    ['- key: billing-bot\n  provider: local\n', 'the mapping file is a list; the list of projects goes under a top-level `projects:` key'],
    ['billing-bot\n', 'the mapping file holds a single value, not a `projects:` list'],
    ['project:\n  - key: a\n', 'the mapping file has no top-level `projects:` key (it has "project")'],
    ['projects:\n', '`projects:` lists no project'],
    ['projects: []\n', '`projects:` lists no project'],
  ])('says what a file that is not a mapping lacks, with a minimal example (%j)', (text, problem) => {
    const error = refusal(text);
    expect(error.status).toBe(422);
    expect(error.message).toBe(`${problem}. A minimal mapping file:\n${MINIMAL_MAPPING_FILE}`);
    // The example itself is a mapping file that applies.
    expect(parseMappingFile(MINIMAL_MAPPING_FILE, new Set(['local'])).projects).toHaveLength(1);
  });
});

describe('parseProjectMapping', () => {
  it('takes the key from the URL', () => {
    expect(parseProjectMapping('ops', { provider: 'local', reviewers: ['alice'] }, ALL)).toMatchObject({ key: 'ops', provider: 'local', requiredApprovals: 1 });
  });

  it('refuses a body whose key disagrees with the URL', () => {
    expect(() => parseProjectMapping('ops', { key: 'other', provider: 'local', reviewers: ['alice'] }, ALL)).toThrow(/key: "other" does not match/);
  });

  it('names the field path without the projects[] prefix', () => {
    expect(() => parseProjectMapping('ops', { provider: 'local', reviewers: 'alice' }, ALL)).toThrow(/^reviewers: expected array, received string$/);
  });
});
