import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { decideBatchInInbox, decideInInbox, type DecisionProof } from '../../inbox/decide-in-inbox.ts';
import { INBOX_CSS, STYLE_PATH } from '../../inbox/inbox-style.ts';
import { loadInboxPeople, type InboxPeople } from '../../inbox/inbox-people.ts';
import { adminOverview, listInbox, readApprovalFor, readBatchFor } from '../../inbox/inbox-reads.ts';
import { csrfFor, endSession, findSession, SESSION_MS, startSession } from '../../inbox/inbox-sessions.ts';
import { isSecret, newSecret, peekToken, SIGN_IN_LINK_MS, useToken } from '../../inbox/inbox-tokens.ts';
import { adminPage } from '../../inbox/pages/admin-page.ts';
import { revokeGrant } from '../../grants/grant-store.ts';
import { approvalPage, confirmEditPage, type DecideWith, type Outcome } from '../../inbox/pages/approval-page.ts';
import { batchPage } from '../../inbox/pages/batch-page.ts';
import { inboxPage } from '../../inbox/pages/inbox-page.ts';
import { messagePage, type Viewer } from '../../inbox/pages/layout.ts';
import { confirmSignInPage, loginPage } from '../../inbox/pages/login-page.ts';
import { requestSignInEmail } from '../../inbox/sign-in.ts';
import { CountersignError } from '../../primitives/errors.ts';
import type { Services } from '../../services.ts';
import { readRawBody } from '../read-body.ts';

const SESSION_COOKIE = 'countersign_session';
/** Before sign-in there is no session to bind a form to: this cookie's secret is (double submit), so another site cannot sign a browser into its own account. */
const LOGIN_COOKIE = 'countersign_login';

/**
 * Every page: no script at all, styles only from our own stylesheet, no framing, no referrer
 * (an email link's token is in the URL), nothing cached (pages show who decides what).
 */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
};

interface Signed {
  person: string;
  csrf: string;
  secret: string;
}

/**
 * The web inbox (issue 15): server-rendered pages on the API's server, working without
 * JavaScript. Thin glue: sessions, tokens, reads and decisions live in src/inbox/.
 */
export function inboxRoutes(services: Services): Router {
  const router = new Router();
  const secure = services.config.publicUrl.startsWith('https:');
  const cookie = (ctx: Context, name: string, value: string | null, maxAgeMs?: number) => {
    // Behind a TLS-terminating proxy the socket is plain HTTP; PUBLIC_URL says what the browser sees.
    if (secure) ctx.cookies.secure = true;
    ctx.cookies.set(name, value, { httpOnly: true, sameSite: 'lax', secure, path: '/', overwrite: true, ...(maxAgeMs !== undefined ? { maxAge: maxAgeMs } : {}) });
  };

  const pageMiddleware: Middleware = async (ctx, next) => {
    ctx.set(SECURITY_HEADERS);
    try {
      await next();
    } catch (error) {
      if (!(error instanceof CountersignError)) throw error;
      const signed = await session(ctx).catch(() => undefined);
      const viewer = signed ? await viewerOf(signed) : undefined;
      ctx.status = error.status;
      ctx.type = 'html';
      ctx.body = messagePage(error.status === 404 ? 'Not found' : error.status === 429 ? 'Too many requests' : 'Not done', viewer, error.message);
    }
  };

  const session = async (ctx: Context): Promise<Signed | undefined> => {
    const secret = ctx.cookies.get(SESSION_COOKIE);
    const found = await findSession(services.db, secret, services.now());
    return found && { ...found, secret: secret! };
  };
  const people = () => loadInboxPeople(services, services.db);
  const viewerOf = async (signed: Signed, known?: InboxPeople): Promise<Viewer | undefined> => {
    const person = (known ?? (await people())).person(signed.person);
    return person && { person: person.id, csrf: signed.csrf, admin: person.admin };
  };
  /** The signed-in viewer, or a redirect to /login (undefined: the answer is set). */
  const signedIn = async (ctx: Context, known: InboxPeople): Promise<Viewer | undefined> => {
    const signed = await session(ctx);
    const viewer = signed && (await viewerOf(signed, known));
    if (!viewer) ctx.redirect('/login');
    return viewer;
  };
  const html = (ctx: Context, body: string, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = body;
  };

  router.get(STYLE_PATH, (ctx) => {
    ctx.set({ 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'public, max-age=3600' });
    ctx.type = 'text/css';
    ctx.body = INBOX_CSS;
  });

  // A browser opening a `local` ticket's URL (the API's, which wants a key) lands on the page; API clients are untouched.
  for (const [api, pageOf] of [['/v1/approvals/:id', (id: string) => `/approvals/${id}`], ['/v1/batches/:id', (id: string) => `/batches/${id}`]] as const) {
    router.get(api, async (ctx, next) => {
      if (ctx.get('authorization') === '' && ctx.accepts('json', 'html') === 'html' && /^[a-z]{3}_[0-9a-z]{26}$/.test(ctx.params.id ?? '')) {
        ctx.status = 303;
        ctx.redirect(pageOf(ctx.params.id!));
        return;
      }
      await next();
    });
  }

  router.get('/', (ctx) => ctx.redirect('/inbox'));

  router.get('/login', pageMiddleware, async (ctx) => {
    const token = typeof ctx.query.t === 'string' ? ctx.query.t : undefined;
    const loginSecret = loginCookie(ctx);
    if (token !== undefined) {
      const grant = await peekToken(services.db, 'sign-in', token, services.now());
      if (!grant) return html(ctx, messagePage('Sign-in link expired', undefined, 'This sign-in link has expired or was used already. Ask for a new one.'), 401);
      return html(ctx, confirmSignInPage({ person: grant.person, token, csrf: csrfFor(loginSecret) }));
    }
    html(ctx, loginPage({ emailOn: services.mail !== undefined, csrf: csrfFor(loginSecret) }));
  });

  router.post('/login', pageMiddleware, async (ctx) => {
    const form = await readForm(ctx);
    const loginSecret = ctx.cookies.get(LOGIN_COOKIE);
    if (!isSecret(loginSecret) || form.get('csrf') !== csrfFor(loginSecret)) return html(ctx, messagePage('Sign-in refused', undefined, 'The form has expired or did not come from this site. Open the link again.'), 403);
    const token = form.get('t');
    if (token !== null) {
      const grant = await useToken(services.db, 'sign-in', token, services.now());
      const person = grant && (await people()).person(grant.person);
      if (!person) return html(ctx, messagePage('Sign-in link expired', undefined, 'This sign-in link has expired or was used already. Ask for a new one.'), 401);
      cookie(ctx, SESSION_COOKIE, await startSession(services.db, person.id, services.now()), SESSION_MS);
      cookie(ctx, LOGIN_COOKIE, null);
      ctx.status = 303;
      return ctx.redirect('/inbox');
    }
    const address = form.get('email')?.trim() ?? '';
    if (!services.mail) return html(ctx, loginPage({ emailOn: false, csrf: csrfFor(loginSecret), refused: 'Email is not set up on this server: ask an operator for a sign-in link.' }), 404);
    if (address.length < 3 || address.length > 254 || !address.includes('@')) return html(ctx, loginPage({ emailOn: true, csrf: csrfFor(loginSecret), refused: 'Give an email address.' }), 422);
    await requestSignInEmail(services, address, ctx.ip);
    html(ctx, loginPage({ emailOn: true, csrf: csrfFor(loginSecret), sent: true }));
  });

  router.post('/logout', pageMiddleware, async (ctx) => {
    const form = await readForm(ctx);
    const signed = await session(ctx);
    if (signed && form.get('csrf') === signed.csrf) await endSession(services.db, signed.secret);
    else if (signed) return html(ctx, messagePage('Not signed out', undefined, 'The form did not come from this site.'), 403);
    cookie(ctx, SESSION_COOKIE, null);
    html(ctx, messagePage('Signed out', undefined, 'You are signed out.'));
  });

  router.get('/inbox', pageMiddleware, async (ctx) => {
    const known = await people();
    const viewer = await signedIn(ctx, known);
    if (!viewer) return;
    const { items, more } = await listInbox(services, known, viewer.person);
    html(ctx, inboxPage(viewer, items, services.now(), more));
  });

  router.get('/approvals/:id', pageMiddleware, async (ctx) => {
    const known = await people();
    const token = typeof ctx.query.t === 'string' ? ctx.query.t : undefined;
    const signed = await session(ctx);
    const viewer = signed && (await viewerOf(signed, known));
    // An email's link shows the page to its person, and its form carries the token; nothing is used up by opening it.
    const grant = token !== undefined ? await peekToken(services.db, 'approval', token, services.now()) : undefined;
    const asPerson = grant && grant.approvalId === ctx.params.id ? grant.person : viewer?.person;
    if (asPerson === undefined) {
      if (token !== undefined) return html(ctx, messagePage('Link expired', undefined, 'This link has expired or was used already. Sign in to see the approval.'), 401);
      return ctx.redirect('/login');
    }
    const data = await readApprovalFor(services, known, asPerson, ctx.params.id!);
    const decideWith: DecideWith = !data.decides
      ? { kind: 'none', why: 'You are not a current reviewer of this approval.' }
      : grant && grant.person === asPerson && grant.payloadHash === data.approval.payload_hash
        ? { kind: 'token', token: token! }
        : viewer
          ? { kind: 'session', csrf: viewer.csrf }
          : { kind: 'none', why: 'The request changed since this link was sent; sign in to decide.' };
    html(ctx, approvalPage(viewer, { ...data, decideWith, now: services.now() }));
  });

  router.post('/approvals/:id/decision', pageMiddleware, async (ctx) => {
    const form = await readForm(ctx);
    const known = await people();
    const outcome = form.get('outcome');
    if (outcome !== 'approve' && outcome !== 'reject') return html(ctx, messagePage('Not done', undefined, 'Choose Approve or Reject.'), 422);
    const token = form.get('t');
    const signed = await session(ctx);
    let proof: DecisionProof;
    if (token !== null) proof = { kind: 'token', token };
    else if (signed && form.get('csrf') === signed.csrf) proof = { kind: 'session', person: signed.person };
    else return html(ctx, messagePage('Decision refused', signed ? await viewerOf(signed, known) : undefined, 'The form did not come from this site, or your session has ended: nothing was decided. Open the approval again.'), 403);
    let result: Awaited<ReturnType<typeof decideInInbox>>;
    try {
      result = await decideInInbox(services, known, {
        approvalId: ctx.params.id!,
        outcome,
        reason: form.get('reason'),
        payloadHash: form.get('payloadHash') ?? '',
        proof,
        payload: form.get('payload'),
        grantHours: form.get('grantHours'),
        confirmed: form.get('confirm') === '1',
      });
    } catch (error) {
      if (!(error instanceof CountersignError) || error.status !== 422) throw error;
      result = { person: proof.kind === 'session' ? proof.person : '', outcome: { kind: 'refused', text: `${error.message}. Nothing was decided.` } };
    }
    const viewer = signed ? await viewerOf(signed, known) : undefined;
    if ('confirm' in result) {
      const { approval } = await readApprovalFor(services, known, result.person, ctx.params.id!);
      const decideWith = proof.kind === 'session' ? { kind: 'session' as const, csrf: signed!.csrf } : { kind: 'token' as const, token: proof.token };
      return html(ctx, confirmEditPage(viewer, { approval, ...result.confirm, reason: form.get('reason'), grantHours: form.get('grantHours'), decideWith }));
    }
    if (result.person === '') return html(ctx, messagePage('Decision refused', viewer, result.outcome.text), 403);
    const data = await readApprovalFor(services, known, result.person, ctx.params.id!);
    const decideWith: DecideWith = viewer && data.decides ? { kind: 'session', csrf: viewer.csrf } : { kind: 'none', why: 'Sign in to decide again.' };
    html(ctx, approvalPage(viewer, { ...data, decideWith, outcome: result.outcome, now: services.now() }), result.outcome.kind === 'refused' ? 409 : 200);
  });

  router.get('/batches/:id', pageMiddleware, async (ctx) => {
    const known = await people();
    const viewer = await signedIn(ctx, known);
    if (!viewer) return;
    const { batch, items } = await readBatchFor(services, known, viewer.person, ctx.params.id!);
    html(ctx, batchPage(viewer, batch, items));
  });

  router.post('/batches/:id/decision', pageMiddleware, async (ctx) => {
    const form = await readForm(ctx);
    const known = await people();
    const signed = await session(ctx);
    const viewer = signed && (await viewerOf(signed, known));
    if (!viewer || form.get('csrf') !== viewer.csrf) return html(ctx, messagePage('Decision refused', viewer, 'The form did not come from this site, or your session has ended: nothing was decided.'), 403);
    const outcome = form.get('outcome');
    if (outcome !== 'approve' && outcome !== 'reject') return html(ctx, messagePage('Not done', viewer, 'Choose Approve or Reject.'), 422);
    let result: Outcome;
    try {
      result = await decideBatchInInbox(services, known, { batchId: ctx.params.id!, person: viewer.person, outcome, reason: form.get('reason'), include: form.getAll('include') });
    } catch (error) {
      if (!(error instanceof CountersignError) || (error.status !== 422 && error.status !== 409)) throw error;
      result = { kind: 'refused', text: `${error.message}. Nothing was decided.` };
    }
    const { batch, items } = await readBatchFor(services, known, viewer.person, ctx.params.id!);
    html(ctx, batchPage(viewer, batch, items, result), result.kind === 'refused' ? 409 : 200);
  });

  router.get('/admin', pageMiddleware, async (ctx) => {
    const known = await people();
    const viewer = await signedIn(ctx, known);
    if (!viewer) return;
    // Not an admin: the page does not exist for them, like another project's approval.
    if (!viewer.admin) return html(ctx, messagePage('Not found', viewer, 'There is no such page.'), 404);
    html(ctx, adminPage(viewer, await adminOverview(services), services.now()));
  });

  // An admin revokes a standing grant: audited as theirs, from the commit on it approves nothing.
  router.post('/admin/grants/:id/revoke', pageMiddleware, async (ctx) => {
    const form = await readForm(ctx);
    const known = await people();
    const signed = await session(ctx);
    const viewer = signed ? await viewerOf(signed, known) : undefined;
    if (!signed || !viewer || form.get('csrf') !== signed.csrf) return html(ctx, messagePage('Not done', viewer, 'The form did not come from this site, or your session has ended: nothing was revoked.'), 403);
    if (!viewer.admin) return html(ctx, messagePage('Not found', viewer, 'There is no such page.'), 404);
    let notice: string;
    try {
      const revoked = await revokeGrant(services, ctx.params.id!, { kind: 'admin', id: viewer.person, via: 'inbox' }, services.now());
      notice = `Revoked ${revoked.id}: it approves nothing from now on (it had approved ${revoked.uses}).`;
    } catch (error) {
      if (!(error instanceof CountersignError) || error.status >= 500) throw error;
      notice = `Not revoked: ${error.message}.`;
    }
    html(ctx, adminPage(viewer, await adminOverview(services), services.now(), notice));
  });

  /** The pre-sign-in cookie's secret, set when missing. */
  function loginCookie(ctx: Context): string {
    const existing = ctx.cookies.get(LOGIN_COOKIE);
    if (isSecret(existing)) return existing;
    const secret = newSecret();
    cookie(ctx, LOGIN_COOKIE, secret, SIGN_IN_LINK_MS);
    return secret;
  }

  return router;
}

/** A form post (`application/x-www-form-urlencoded`, what a browser sends without JavaScript), read with the API's size limit. */
async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (ctx.request.type !== 'application/x-www-form-urlencoded') throw new CountersignError(415, 'unsupported_media_type', 'Content-Type: expected a form (application/x-www-form-urlencoded)');
  return new URLSearchParams(await readRawBody(ctx));
}
