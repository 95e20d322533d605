import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium (`apt-get install -y chromium`; `.ci/run` installs it when missing), driven
 * by playwright-core, which ships no browser of its own. Undefined when there is none: the
 * browser suites then skip, and say so.
 */
export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', process.env.CHROMIUM_PATH].find((file): file is string => file !== undefined && fs.existsSync(file));

export async function launchChromium(): Promise<Browser> {
  if (!CHROMIUM) throw new Error('no Chromium: apt-get install -y chromium');
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

if (!CHROMIUM) process.stderr.write('\n*** browser tests SKIPPED: no Chromium found (apt-get install -y chromium) ***\n\n');

/**
 * A browser without JavaScript, over fetch: keeps cookies, follows nothing by itself, reads the
 * forms' hidden fields. What a link scanner or a plain HTML client sees and can do.
 */
export interface PageClient {
  get(pathOrUrl: string, headers?: Record<string, string>): Promise<{ status: number; location: string | null; html: string; headers: Headers }>;
  post(path: string, fields: Record<string, string | string[]>, headers?: Record<string, string>): Promise<{ status: number; location: string | null; html: string; headers: Headers }>;
  cookies: Map<string, string>;
}

export function pageClient(base: string): PageClient {
  const cookies = new Map<string, string>();
  const send = async (url: string, init: RequestInit) => {
    const headers = new Headers(init.headers);
    if (cookies.size > 0) headers.set('cookie', [...cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    // Links carry PUBLIC_URL, which a test server on port 0 does not know: they are opened on the server itself.
    const target = url.startsWith('http') ? `${base}${new URL(url).pathname}${new URL(url).search}` : `${base}${url}`;
    const response = await fetch(target, { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, value] = [pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1)];
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) cookies.delete(name);
      else cookies.set(name, value);
    }
    return { status: response.status, location: response.headers.get('location'), html: await response.text(), headers: response.headers };
  };
  return {
    cookies,
    get: (url, headers = {}) => send(url, { headers: { accept: 'text/html', ...headers } }),
    post: (url, fields, headers = {}) => {
      const body = new URLSearchParams();
      for (const [name, value] of Object.entries(fields)) for (const v of [value].flat()) body.append(name, v);
      return send(url, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html', ...headers } });
    },
  };
}

/** The value of a form's hidden field in a page. */
export function hiddenField(html: string, name: string): string {
  const match = new RegExp(`<input type="hidden" name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no hidden field ${name} in the page`);
  // As a browser submits it: the attribute's character references decoded.
  return match[1]!.replace(/&(quot|amp|lt|gt|#39|#x27);/g, (_, ref: string) => ({ quot: '"', amp: '&', lt: '<', gt: '>', '#39': "'", '#x27': "'" })[ref]!);
}

/**
 * The README's browser path, as a reader does it: open the sign-in link `login-link` printed,
 * press Sign in, open the request named `summary` in the inbox, give a reason and press
 * Approve. Resolves with the page's closing message. For test/integration/readme-walkthrough.test.ts:
 * after pasting the block that runs `npx countersign login-link`, call it with the link the
 * terminal printed (`lastSignInLink(output)`).
 */
export async function approveInBrowser(link: string, summary: string, reason = 'Looks right'): Promise<string> {
  const browser = await launchChromium();
  try {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(link);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/inbox$/);
    await page.getByRole('link', { name: summary }).first().click();
    await page.waitForURL(/\/approvals\/apr_/);
    await page.getByLabel(/Reason/).fill(reason);
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.waitForLoadState();
    return (await page.getByRole('status').first().textContent()) ?? '';
  } finally {
    await browser.close();
  }
}

/** The last sign-in link a terminal printed (`npx countersign login-link`). */
export function lastSignInLink(output: string): string | undefined {
  return [...output.matchAll(/https?:\/\/[^\s]+\/login\?t=[A-Za-z0-9_-]{43}/g)].at(-1)?.[0];
}
