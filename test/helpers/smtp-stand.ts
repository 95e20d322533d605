import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { until } from './until.ts';

/** A real SMTP server on a free port (`smtp-server`), keeping each message nodemailer sent it, parsed by `mailparser`. */
export interface SmtpStand {
  /** `smtp://…` for SMTP_URL, with a user and password the server checks. */
  readonly url: string;
  readonly messages: ParsedMail[];
  /** Refuses the next `count` messages with a temporary failure (451), as a server in trouble does. */
  failNext(count: number): void;
  /** Refuses the next `count` messages to `address` alone (451), others go through. */
  failTo(address: string, count: number): void;
  /** The recipients of each message refused by {@link failTo}, in order. */
  readonly refusedTo: string[];
  /** Waits for a message to `to` (and matching `test`) and returns it. */
  waitFor(to: string, test?: (mail: ParsedMail) => boolean): Promise<ParsedMail>;
  close(): Promise<void>;
}

export const USER = 'countersign';
export const PASSWORD = 'smtp-test-password';

export async function startSmtpStand(): Promise<SmtpStand> {
  const messages: ParsedMail[] = [];
  let failing = 0;
  const failingTo = new Map<string, number>();
  const refused: string[] = [];
  const server = new SMTPServer({
    // Plain SMTP on loopback: no certificate for the test to trust (STARTTLS off), and AUTH allowed without TLS.
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === USER && auth.password === PASSWORD) return callback(null, { user: USER });
      return callback(new Error('invalid credentials'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const refusedTo = session.envelope.rcptTo.map((rcpt) => rcpt.address.toLowerCase()).find((address) => (failingTo.get(address) ?? 0) > 0);
        if (refusedTo) {
          failingTo.set(refusedTo, failingTo.get(refusedTo)! - 1);
          refused.push(refusedTo);
        }
        if (failing > 0 || refusedTo) {
          if (!refusedTo) failing -= 1;
          const error = new Error('try again later') as Error & { responseCode: number };
          error.responseCode = 451;
          return callback(error);
        }
        simpleParser(Buffer.concat(chunks))
          .then((mail) => {
            messages.push(mail);
            callback();
          })
          .catch((error: Error) => callback(error));
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = (server.server.address() as AddressInfo);
  const recipients = (mail: ParsedMail) => (Array.isArray(mail.to) ? mail.to : mail.to ? [mail.to] : []).flatMap((a) => a.value.map((v) => v.address?.toLowerCase()));
  return {
    url: `smtp://${USER}:${PASSWORD}@127.0.0.1:${port}`,
    messages,
    failNext: (count) => void (failing = count),
    failTo: (address, count) => void failingTo.set(address.toLowerCase(), count),
    refusedTo: refused,
    waitFor: async (to, test = () => true) => (await until(() => messages.find((mail) => recipients(mail).includes(to.toLowerCase()) && test(mail)), (found) => found !== undefined))!,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The first link in a message's text part that starts with `base`. */
export function linkIn(mail: ParsedMail, base: string): string {
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`${escaped}\\S+`).exec(mail.text ?? '');
  if (!match) throw new Error(`no link to ${base} in: ${mail.text}`);
  return match[0];
}
