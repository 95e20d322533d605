/**
 * The pages' only stylesheet, served by the app at STYLE_PATH (the CSP allows `style-src 'self'`
 * and nothing inline). Small, readable on a phone, colours at WCAG AA contrast or better.
 */
export const STYLE_PATH = '/inbox/style.css';

export const INBOX_CSS = `
:root { color-scheme: light; --ink: #1b1f24; --muted: #4a525c; --line: #c9ced6; --accent: #0b57d0; --bad: #a1151a; --good: #0d652d; --bg: #ffffff; --panel: #f4f6f8; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; padding: .75rem 1rem; border-bottom: 1px solid var(--line); background: var(--panel); }
header .brand { font-weight: 700; color: var(--ink); text-decoration: none; margin-right: auto; }
header form { display: inline; margin: 0; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
a { color: var(--accent); }
h1 { font-size: 1.4rem; margin: .5rem 0 1rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; }
caption { text-align: left; padding: .25rem 0; }
th, td { text-align: left; vertical-align: top; padding: .4rem .5rem; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
pre { background: var(--panel); border: 1px solid var(--line); padding: .75rem; overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .9rem; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.risk-high { color: var(--bad); font-weight: 700; }
.notice { border-left: 4px solid var(--accent); background: var(--panel); padding: .5rem .75rem; margin: 1rem 0; }
.notice.refused { border-color: var(--bad); }
.notice.decided { border-color: var(--good); }
.status { font-weight: 700; }
form.decide { border: 1px solid var(--line); padding: 1rem; margin-top: 1rem; }
form.decide h2 { margin-top: 0; }
label { display: block; font-weight: 600; margin: .5rem 0 .25rem; }
label.inline { display: inline; font-weight: 400; }
textarea, input[type=email], input[type=text] { width: 100%; max-width: 40rem; font: inherit; padding: .4rem; border: 1px solid var(--muted); border-radius: 4px; }
button { font: inherit; padding: .5rem 1rem; margin: .5rem .5rem 0 0; border-radius: 4px; border: 1px solid var(--ink); background: var(--bg); color: var(--ink); cursor: pointer; }
button.approve { background: var(--good); border-color: var(--good); color: #fff; }
button.reject { background: var(--bad); border-color: var(--bad); color: #fff; }
button.link { border: none; padding: 0; margin: 0; color: var(--accent); text-decoration: underline; background: none; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.muted { color: var(--muted); }
@media (max-width: 40rem) { dl { grid-template-columns: 1fr; } dt { margin-top: .5rem; } th, td { padding: .3rem; } }
`;
