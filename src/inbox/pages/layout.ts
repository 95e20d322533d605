import { html, type Html, type HtmlValue } from '../../primitives/html.ts';
import { STYLE_PATH } from '../inbox-style.ts';

/** Who is looking, as the header shows it: the signed-in person and their form token. */
export interface Viewer {
  person: string;
  csrf: string;
  admin: boolean;
}

/** A whole page: a title, a header with where to go and how to sign out, and the body. */
export function page(title: string, viewer: Viewer | undefined, body: HtmlValue): string {
  const nav: Html | null = viewer
    ? html`<nav aria-label="Main"><a href="/inbox">Inbox</a>${viewer.admin ? html` · <a href="/admin">Admin</a>` : null}</nav>
<span>Signed in as <strong>${viewer.person}</strong></span>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="${viewer.csrf}"><button class="link" type="submit">Sign out</button></form>`
    : null;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Countersign</title>
<link rel="stylesheet" href="${STYLE_PATH}">
</head>
<body>
<header><a class="brand" href="/inbox">Countersign</a>${nav}</header>
<main>
${body}
</main>
</body>
</html>
`.html;
}

/** A page that only says something (signed out, link expired, not found). */
export function messagePage(title: string, viewer: Viewer | undefined, message: HtmlValue): string {
  return page(title, viewer, html`<h1>${title}</h1><p>${message}</p>`);
}

/** `1h 20m`, `3m`, `45s`: ages and time left, to the two largest units. */
export function shortDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const parts: Array<[number, string]> = [
    [Math.floor(s / 86400), 'd'],
    [Math.floor((s % 86400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
    [s % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  if (first === -1) return '0s';
  return parts
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n}${unit}`)
    .join(' ');
}
