import { describe, expect, it } from 'vitest';
import { projectMappingSchema } from '../../../src/projects/mapping-schema.ts';
import { resolvePolicy } from '../../../src/rules/resolve-policy.ts';
import { explainRequest, formatExplanation } from '../../../src/rules/explain-request.ts';

const project = projectMappingSchema.parse({
  key: 'billing-bot',
  provider: 'local',
  reviewers: ['alice', 'bob', 'dave'],
  escalation: [{ after: '30m', reviewers: ['carol'] }, { after: '4h', outcome: 'reject' }],
  batching: { when: { risk: ['low'] }, window: '10m', maxItems: 25 },
  rules: [
    { when: { labels: ['urgent'] }, set: { escalation: [{ after: '5m', reviewers: ['carol'] }] } },
    { when: { risk: ['high'] }, set: { requiredApprovals: 2 } },
    { when: { labels: ['urgent', 'finance'] }, set: { requiredApprovals: 3 } },
    { when: { risk: ['low'], action: ['tag_ticket'] }, set: { autoApprove: true } },
    { when: { action: ['wire_money'] }, set: { autoApprove: true } },
  ],
});

describe('resolvePolicy', () => {
  it('uses the project settings when no rule matches', () => {
    const policy = resolvePolicy(project, { risk: 'medium', action: 'send_email', labels: [] });
    expect(policy).toMatchObject({ requiredApprovals: 1, batching: false, autoApprove: false, matchedRules: [] });
    expect(policy.escalation.map((t) => t.after)).toEqual(['30m', '4h']);
  });

  it('takes each setting from the first matching rule that sets it, in order', () => {
    const policy = resolvePolicy(project, { risk: 'high', action: 'send_email', labels: ['urgent', 'finance'] });
    expect(policy.matchedRules).toEqual([0, 1, 2]);
    expect(policy.requiredApprovals).toBe(2);
    expect(policy.sources.requiredApprovals).toBe('rules[1]');
    expect(policy.escalation).toEqual([{ after: '5m', reviewers: ['carol'] }]);
    expect(policy.sources.escalation).toBe('rules[0]');
  });

  it('needs every label a rule names', () => {
    expect(resolvePolicy(project, { risk: 'medium', action: 'a', labels: ['finance'] }).matchedRules).toEqual([]);
  });

  it('auto-approves low-risk tagging, and never high risk whatever the rule says', () => {
    expect(resolvePolicy(project, { risk: 'low', action: 'tag_ticket', labels: [] })).toMatchObject({ autoApprove: true, batching: false });
    const high = resolvePolicy(project, { risk: 'high', action: 'wire_money', labels: [] });
    expect(high.autoApprove).toBe(false);
    expect(high.refused.join()).toMatch(/never applied to risk high/);
  });

  it('batches what the project batching matches', () => {
    expect(resolvePolicy(project, { risk: 'low', action: 'send_email', labels: [] }).batching).toBe(true);
    expect(resolvePolicy(project, { risk: 'medium', action: 'send_email', labels: [] }).batching).toBe(false);
  });
});

describe('explainRequest', () => {
  it('names the matching rules and what would happen', () => {
    const text = formatExplanation(explainRequest([project], { project: 'billing-bot', action: 'send_email', summary: 's', risk: 'high', labels: ['urgent'] }));
    expect(text).toContain('rules[0] matches');
    expect(text).toContain('rules[3] no match');
    expect(text).toContain('needs 2 distinct approvals (rules[1])');
    expect(text).toContain('after 5m still pending: escalated to carol');
  });

  it('refuses a sample for a project the file does not have', () => {
    expect(() => explainRequest([project], { project: 'other', action: 'a', summary: 's' })).toThrow(/request.project: "other" is not in the mapping file/);
  });
});
