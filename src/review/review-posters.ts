import type { MailMessage } from '../channels/email/mailer.ts';
import { html } from '../primitives/html.ts';
import type { ReviewPoster } from './weekly-review-job.ts';

/**
 * The weekly report's Slack and email destinations, over what the server runs: a message in
 * the channel (Countersign's own words, escaped by `postMessage`), and a mail to the listed
 * addresses (text, and the same text as preformatted HTML). Either is absent when that channel
 * is off, and the job then fails saying so.
 */
export function reviewPosters(channels: {
  postToSlack?: (channel: string, text: string) => Promise<{ channel: string; ts: string }>;
  sendMail?: (message: MailMessage) => Promise<void>;
}): Record<string, ReviewPoster> {
  const posters: Record<string, ReviewPoster> = {};
  const { postToSlack, sendMail } = channels;
  if (postToSlack) {
    posters.slack = async (section, report) => {
      const posted = await postToSlack(String(section.channel), `${report.title}\n\n${report.text}`);
      return { url: `slack:${posted.channel}/${posted.ts}` };
    };
  }
  if (sendMail) {
    posters.email = async (section, report) => {
      const to = (section.to as string[]).join(', ');
      await sendMail({ to, subject: report.title, text: report.text, html: html`<h1>${report.title}</h1><pre>${report.text}</pre>`.html });
      return { url: `mailto:${to}` };
    };
  }
  return posters;
}
