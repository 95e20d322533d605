import nodemailer from 'nodemailer';

/** One message: plain text for every client, HTML for those that show it. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * Sends mail through the configured SMTP server. Other features may send through it too (the
 * audit review's weekly report to admins): `sendMail` throws on failure, so a caller running in
 * a job gets the job queue's retries.
 */
export interface Mailer {
  sendMail(message: MailMessage): Promise<void>;
  close(): void;
}

/** How long one send may take before it fails (and its job is retried): a hung server must not hold a worker. */
const SEND_TIMEOUT_MS = 30_000;

/**
 * nodemailer over `SMTP_URL` (`smtp://user:pass@host:port`, or `smtps://` for TLS from the
 * first byte; plain `smtp://` upgrades with STARTTLS when the server offers it).
 *
 * @example
 * const mailer = createMailer({ smtpUrl: 'smtp://mail.example:587', from: 'Countersign <cs@example.com>' });
 * await mailer.sendMail({ to: 'alice@example.com', subject: 'Hi', text: 'Hi', html: '<p>Hi</p>' });
 */
export function createMailer(settings: { smtpUrl: string; from: string }): Mailer {
  const transport = nodemailer.createTransport(settings.smtpUrl);
  return {
    async sendMail(message) {
      try {
        await transport.sendMail({ from: settings.from, to: message.to, subject: message.subject, text: message.text, html: message.html, signal: AbortSignal.timeout(SEND_TIMEOUT_MS) });
      } catch (error) {
        // nodemailer's errors may quote the server's reply but never the URL's password; keep only what names the failure.
        const code = (error as { code?: string }).code;
        throw new Error(`sending email failed${code ? ` (${code})` : ''}: ${(error as Error).message}`, { cause: error });
      }
    },
    close: () => transport.close(),
  };
}
