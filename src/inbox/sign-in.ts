import { executorFor } from '../db/open-database.ts';
import type { Services } from '../services.ts';
import { sha256Hex } from '../primitives/canonical-json.ts';
import { notFound } from '../primitives/errors.ts';
import { tooManyRequests } from './inbox-errors.ts';
import type { InboxTables } from './inbox-tables.ts';
import { loadInboxPeople } from './inbox-people.ts';
import { mintSignInToken, SIGN_IN_LINK_MS } from './inbox-tokens.ts';
import { html } from '../primitives/html.ts';

/** Sign-in emails per address and per client address within 15 minutes: enough for a typo and a retry, too few to flood an inbox. */
export const SIGN_IN_LIMITS = { perAddress: 5, perClient: 20, windowMs: 15 * 60_000 } as const;

/** The link a person opens to sign in (`GET /login?t=…` asks them to press Sign in; opening it signs nobody in). */
export const signInUrl = (publicUrl: string, token: string) => `${publicUrl}/login?t=${token}`;

/** `countersign login-link --person ID`: a one-time link for a person of the directory, valid 15 minutes. */
export async function createSignInLink(services: Services, person: string): Promise<{ person: string; url: string; expiresAt: string }> {
  const people = await loadInboxPeople(services, services.db);
  const found = people.person(person);
  if (!found) throw notFound(`no person ${person} in the people directory (the mapping file's people:, applied with countersign projects apply)`);
  const now = services.now();
  const token = await mintSignInToken(services.db, found.id, now);
  return { person: found.id, url: signInUrl(services.config.publicUrl, token), expiresAt: new Date(now.getTime() + SIGN_IN_LINK_MS).toISOString() };
}

/**
 * `POST /login` with an address: the same work and the same answer whether the address is a
 * person's or not (a row counted by the rate limits either way; the email itself is a job, so
 * the SMTP server's speed is not seen in the answer either). Over a limit: 429, for known and
 * unknown addresses alike.
 */
export async function requestSignInEmail(services: Services, address: string, client: string): Promise<void> {
  const normalized = address.normalize('NFKC').trim().toLowerCase();
  const addressHash = sha256Hex(`countersign-sign-in:${normalized}`);
  const since = new Date(services.now().getTime() - SIGN_IN_LIMITS.windowMs);
  await services.db.transaction().execute(async (trx) => {
    const db = trx.withTables<InboxTables>();
    const recent = await db
      .selectFrom('inbox_sign_in_requests')
      .select((eb) => [
        eb.fn.countAll<number>().filterWhere('address_hash', '=', addressHash).as('address'),
        eb.fn.countAll<number>().filterWhere('client', '=', client).as('client'),
      ])
      .where('created_at', '>', since)
      .where((eb) => eb.or([eb('address_hash', '=', addressHash), eb('client', '=', client)]))
      .executeTakeFirstOrThrow();
    if (Number(recent.address) >= SIGN_IN_LIMITS.perAddress || Number(recent.client) >= SIGN_IN_LIMITS.perClient) {
      throw tooManyRequests('too many sign-in links asked for in the last 15 minutes; wait a little and try again');
    }
    await db.insertInto('inbox_sign_in_requests').values({ address_hash: addressHash, client }).execute();
    await db.deleteFrom('inbox_sign_in_requests').where('created_at', '<', since).execute();
    const person = (await loadInboxPeople(services, trx)).byEmail(normalized);
    if (person) await services.jobs.send(executorFor(trx), 'sign-in-email', { person: person.id });
  });
}

/**
 * The `sign-in-email` job: mints the token when it runs (a raw token never sits in the job
 * table) and sends it. A failed send throws and the job is retried; an unsent token expires unused.
 */
export async function runSignInEmail(services: Services, { person }: { person: string }): Promise<void> {
  if (!services.mail) return;
  const found = (await loadInboxPeople(services, services.db)).person(person);
  if (!found?.email) return;
  const token = await mintSignInToken(services.db, found.id, services.now());
  const url = signInUrl(services.config.publicUrl, token);
  await services.mail.sendMail({
    to: found.email,
    subject: '[Countersign] Your sign-in link',
    text: `Sign in to Countersign as ${found.id}:\n\n${url}\n\nThe link works once, for 15 minutes. If you did not ask for it, ignore this email.`,
    html: html`<!doctype html><html><body><p>Sign in to Countersign as <strong>${found.id}</strong>:</p><p><a href="${url}">Sign in</a></p><p>The link works once, for 15 minutes. If you did not ask for it, ignore this email.</p></body></html>`.html,
  });
}
