import { describe, expect, it } from 'vitest';
import type { MailMessage } from '../../../src/channels/email/mailer.ts';
import { reviewPosters } from '../../../src/review/review-posters.ts';

describe('weekly review posters', () => {
  const report = { title: 'Countersign weekly review <2026-11-23>', text: 'fast_decision: apr_1 <script>' };

  it('posts the report to the Slack channel named in review.post.slack', async () => {
    const posted: Array<[string, string]> = [];
    const { slack } = reviewPosters({ postToSlack: async (channel, text) => (posted.push([channel, text]), { channel, ts: '1.2' }) });
    expect(await slack!({ channel: 'C0123ABCD' }, report)).toEqual({ url: 'slack:C0123ABCD/1.2' });
    expect(posted).toEqual([['C0123ABCD', `${report.title}\n\n${report.text}`]]);
  });

  it('mails the report to review.post.email.to, its HTML escaped', async () => {
    const sent: MailMessage[] = [];
    const { email } = reviewPosters({ sendMail: async (message) => void sent.push(message) });
    expect(await email!({ to: ['audit@acme.example', 'cto@acme.example'] }, report)).toEqual({ url: 'mailto:audit@acme.example, cto@acme.example' });
    expect(sent[0]).toMatchObject({ to: 'audit@acme.example, cto@acme.example', subject: report.title, text: report.text });
    expect(sent[0]!.html).toContain('&lt;script&gt;');
    expect(sent[0]!.html).not.toContain('<script>');
  });

  it('offers neither when the server runs neither', () => {
    expect(reviewPosters({})).toEqual({});
  });
});
