import { html } from '../../primitives/html.ts';
import { page } from './layout.ts';

/** `GET /login`: the address form when email is on, and how to get a link from an operator either way. */
export function loginPage(options: { emailOn: boolean; csrf: string; sent?: boolean; refused?: string }): string {
  return page(
    'Sign in',
    undefined,
    html`<h1>Sign in</h1>
${options.refused ? html`<p class="notice refused" role="alert">${options.refused}</p>` : null}
${options.sent ? html`<p class="notice" role="status">If that address belongs to a reviewer, a sign-in link is on its way. It works once, for 15 minutes.</p>` : null}
${options.emailOn
  ? html`<form method="post" action="/login">
<input type="hidden" name="csrf" value="${options.csrf}">
<label for="email">Your email address</label>
<input id="email" name="email" type="email" autocomplete="email" required maxlength="254">
<button type="submit">Email me a sign-in link</button>
</form>`
  : null}
<p class="muted">An operator can also make you a one-time link: <code>npx countersign login-link --person YOUR-ID</code></p>`,
  );
}

/** `GET /login?t=…`: opening a link signs nobody in (link scanners open every link); this button does. */
export function confirmSignInPage(options: { person: string; token: string; csrf: string }): string {
  return page(
    'Sign in',
    undefined,
    html`<h1>Sign in as ${options.person}</h1>
<form method="post" action="/login">
<input type="hidden" name="csrf" value="${options.csrf}">
<input type="hidden" name="t" value="${options.token}">
<button type="submit">Sign in</button>
</form>`,
  );
}
