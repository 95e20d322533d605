/**
 * The environment `countersign serve` reads, for `serve --help`. Kept apart from config.ts so
 * help does not load zod; test/unit/config.test.ts checks that it names exactly the variables
 * config.ts reads.
 */
export const SERVE_VARIABLES: ReadonlyArray<readonly [name: string, meaning: string]> = [
  ['DATABASE_URL', 'postgres://… to use PostgreSQL (unset: the embedded PGlite database)'],
  ['DATABASE_PREPARED_STATEMENTS', 'on (default): on PostgreSQL, statements with parameters are prepared once per connection; off for a pooler that cannot keep them (PgBouncer before 1.21)'],
  ['COUNTERSIGN_DATA_DIR', 'embedded database, admin socket and generated keys (default ./.countersign)'],
  ['PORT', 'HTTP port (default 8080)'],
  ['HOST', 'HTTP address (default 127.0.0.1; 0.0.0.0 to listen on every interface)'],
  ['PUBLIC_URL', 'the base URL people and providers reach the server at, written into tickets (default http://HOST:PORT)'],
  ['TRUSTED_PROXIES', 'how many reverse proxies stand in front: the client address is read from that many X-Forwarded-For entries from the right (default 0: the header is ignored)'],
  ['GITHUB_TOKEN', 'GitHub: a token (or the three GITHUB_APP_* settings below)'],
  ['GITHUB_APP_ID', 'GitHub App: its id'],
  ['GITHUB_PRIVATE_KEY', 'GitHub App: its private key (PEM)'],
  ['GITHUB_INSTALLATION_ID', 'GitHub App: the installation on your organization'],
  ['GITHUB_API_URL', 'GitHub API base URL (default https://api.github.com; GitHub Enterprise: https://HOST/api/v3)'],
  ['GITHUB_WEBHOOK_SECRET', 'GitHub: the webhook secret (required with GitHub)'],
  ['GITHUB_WEBHOOK_SECRET_PREVIOUS', 'GitHub: the old webhook secret, still accepted during a rotation'],
  ['JIRA_HOST', 'Jira: https://YOUR-SITE.atlassian.net'],
  ['JIRA_EMAIL', 'Jira: the account Countersign acts as'],
  ['JIRA_API_TOKEN', 'Jira: that account\'s API token'],
  ['JIRA_WEBHOOK_SECRET', 'Jira: the webhook secret (required with Jira)'],
  ['JIRA_WEBHOOK_SECRET_PREVIOUS', 'Jira: the old webhook secret, still accepted during a rotation'],
  ['SLACK_BOT_TOKEN', 'Slack: the bot token (xoxb-…); unset: Slack off'],
  ['SLACK_SIGNING_SECRET', 'Slack: the app\'s signing secret (required with Slack)'],
  ['SLACK_API_URL', 'Slack Web API base URL (default https://slack.com/api/; tests)'],
  ['COUNTERSIGN_SIGNING_KEY', 'Ed25519 private key (PEM) for audit records and receipts (default: generated into the data directory)'],
  ['LOG_LEVEL', 'fatal, error, warn, info (default), debug, trace or silent'],
  ['SMTP_URL', 'email: smtp://user:pass@host:port or smtps://… (unset: email off; sign-in links only from login-link)'],
  ['EMAIL_FROM', 'email: the sender address (required with SMTP_URL)'],
  ['COUNTERSIGN_AUDIT_RETENTION', 'e.g. 90d: a daily job prunes older audit records (default: keep everything)'],
  ['AUDIT_WITNESS', 'also publish signed checkpoints to dir:/PATH, github:OWNER/REPO#ISSUE and/or slack:CHANNEL_ID (comma-separated)'],
  ['AUDIT_WITNESS_INTERVAL', 'how often checkpoints go to the witnesses (default 1h; also at shutdown)'],
];

export function serveHelp(): string {
  const width = Math.max(...SERVE_VARIABLES.map(([name]) => name.length));
  return [
    '',
    'Environment:',
    ...SERVE_VARIABLES.map(([name, meaning]) => `  ${name.padEnd(width)}  ${meaning}`),
    '',
    'Secrets may be given as files: NAME_FILE=/path (GITHUB_TOKEN_FILE, JIRA_API_TOKEN_FILE, DATABASE_URL_FILE, …).',
  ].join('\n');
}
