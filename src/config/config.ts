import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error.ts';
import { parseDuration } from '../primitives/duration.ts';
import { parseWitnessSpecs, type WitnessSpec } from './witness-spec.ts';

export { ConfigError };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const postgresUrl = z
  .string()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must start with postgres:// or postgresql://');

const port = z.coerce.number().int().min(0).max(65535);

const envSchema = z.object({
  DATABASE_URL: postgresUrl.optional(),
  DATABASE_PREPARED_STATEMENTS: z.enum(['on', 'off']).default('on'),
  COUNTERSIGN_DATA_DIR: z.string().min(1).default('./.countersign'),
  PORT: port.default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  PUBLIC_URL: z.url().optional(),
  TRUSTED_PROXIES: z.coerce.number().int().min(0).max(10).default(0),
  GITHUB_TOKEN: z.string().min(1).optional(),
  GITHUB_APP_ID: z.string().min(1).optional(),
  GITHUB_PRIVATE_KEY: z.string().min(1).optional(),
  GITHUB_INSTALLATION_ID: z.string().min(1).optional(),
  GITHUB_API_URL: z.url().default('https://api.github.com'),
  GITHUB_WEBHOOK_SECRET: z.string().min(1).optional(),
  GITHUB_WEBHOOK_SECRET_PREVIOUS: z.string().min(1).optional(),
  JIRA_HOST: z.url().optional(),
  JIRA_EMAIL: z.string().min(1).optional(),
  JIRA_API_TOKEN: z.string().min(1).optional(),
  JIRA_WEBHOOK_SECRET: z.string().min(1).optional(),
  JIRA_WEBHOOK_SECRET_PREVIOUS: z.string().min(1).optional(),
  SLACK_BOT_TOKEN: z.string().min(1).optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  SLACK_API_URL: z.url().default('https://slack.com/api/'),
  COUNTERSIGN_SIGNING_KEY: z
    .string()
    .refine((value) => value.includes('BEGIN PRIVATE KEY'), 'must be an Ed25519 private key in PEM (PKCS#8)')
    .optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  SMTP_URL: z
    .string()
    .refine((value) => /^smtps?:\/\/[^/?#]/.test(value), 'must be an smtp:// or smtps:// URL (smtp://user:pass@host:port)')
    .optional(),
  EMAIL_FROM: z.string().min(3).refine((value) => !/[\r\n]/.test(value) && value.includes('@'), 'must be a sender address, such as Countersign <countersign@example.com>').optional(),
  COUNTERSIGN_AUDIT_RETENTION: z
    .string()
    .refine((text) => parseDuration(text) !== undefined, 'expected a duration such as 90d')
    .optional(),
  AUDIT_WITNESS: z.string().optional(),
  AUDIT_WITNESS_INTERVAL: z
    .string()
    .refine((text) => (parseDuration(text) ?? 0) >= 60_000, 'expected a duration of at least 1m, such as 1h')
    .default('1h'),
});

export interface Config {
  readonly databaseUrl: string | undefined;
  /**
   * PostgreSQL: statements with parameters run as named prepared statements on each connection
   * (db/prepared-statements.ts). `off` for a pooler in transaction mode that cannot keep them
   * (PgBouncer before 1.21, or `max_prepared_statements = 0`).
   */
  readonly databasePreparedStatements: boolean;
  readonly dataDir: string;
  readonly port: number;
  readonly host: string;
  readonly publicUrl: string;
  /**
   * How many reverse proxies stand in front (`TRUSTED_PROXIES`, 0 by default): the client's
   * address is then read from that many `X-Forwarded-For` entries from the right, the ones the
   * proxies appended, so per-address limits (sign-in emails) see people rather than the proxy.
   * Entries further left are the client's own say and never trusted.
   */
  readonly trustedProxies: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly signingKeyPem: string | undefined;
  /** When set, a daily job prunes audit records older than this (ms), keeping the log verifiable. */
  readonly auditRetentionMs: number | undefined;
  /** Where signed checkpoints are also published (`AUDIT_WITNESS`), every `auditWitnessIntervalMs` and at shutdown. */
  readonly auditWitnesses: readonly WitnessSpec[];
  readonly auditWitnessIntervalMs: number;
  /**
   * `previousWebhookSecret`: still accepted while a rotation is under way (set the new secret on
   * the provider's side and as `…_WEBHOOK_SECRET`, the old one as `…_WEBHOOK_SECRET_PREVIOUS`,
   * unset the latter once deliveries carry the new one).
   */
  readonly github:
    | {
        readonly apiUrl: string;
        readonly webhookSecret: string;
        readonly previousWebhookSecret?: string;
        readonly token?: string;
        readonly app?: { readonly appId: string; readonly privateKey: string; readonly installationId: string };
      }
    | undefined;
  readonly jira:
    | { readonly host: string; readonly email: string; readonly apiToken: string; readonly webhookSecret: string; readonly previousWebhookSecret?: string }
    | undefined;
  /** Slack (`provider: slack`, `notify.slack`): on when `SLACK_BOT_TOKEN` is set. `apiUrl` ends with `/`, as `@slack/web-api`'s `slackApiUrl` expects. */
  readonly slack: { readonly botToken: string; readonly signingSecret: string; readonly apiUrl: string } | undefined;
  /** Email (nodemailer over SMTP): on when SMTP_URL is set; EMAIL_FROM is then required. */
  readonly email: { readonly smtpUrl: string; readonly from: string } | undefined;
  /** Settings that do nothing as given (a webhook secret for a provider that is off): said at start, not fatal. */
  readonly warnings: readonly string[];
}

/** Variables whose values are never echoed, and which may be given as a file with `NAME_FILE`. */
export const SECRET_NAMES: ReadonlySet<string> = new Set([
  'GITHUB_TOKEN',
  'GITHUB_PRIVATE_KEY',
  'GITHUB_WEBHOOK_SECRET',
  'GITHUB_WEBHOOK_SECRET_PREVIOUS',
  'JIRA_API_TOKEN',
  'JIRA_WEBHOOK_SECRET',
  'JIRA_WEBHOOK_SECRET_PREVIOUS',
  'SLACK_BOT_TOKEN',
  'SLACK_SIGNING_SECRET',
  'COUNTERSIGN_SIGNING_KEY',
  'DATABASE_URL',
  // It may carry the SMTP password (smtp://user:pass@host).
  'SMTP_URL',
]);

/** Every variable the service reads (besides `NAME_FILE` for the secrets); `serve --help` and the README list each. */
export const CONFIG_NAMES: readonly string[] = Object.keys(envSchema.shape);

const isSet = (value: string | undefined): value is string => value !== undefined && value !== '';

/**
 * `NAME_FILE=/path` for every secret, the Docker and Kubernetes convention (secrets mounted
 * as files keep them out of `ps e` and `docker inspect`). The file's content, without the
 * trailing newline editors and `echo` add, stands in for `NAME`; giving both is an error,
 * since silently preferring one would hide a stale value.
 */
export function readSecretFiles(env: NodeJS.ProcessEnv, names: Iterable<string> = SECRET_NAMES): NodeJS.ProcessEnv {
  const resolved: NodeJS.ProcessEnv = { ...env };
  for (const name of names) {
    const file = env[`${name}_FILE`];
    if (!isSet(file)) continue;
    if (isSet(env[name])) throw new ConfigError(`${name} and ${name}_FILE are both set; set only one of them`);
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const value = text.replace(/(\r?\n)+$/, '');
    if (value === '') throw new ConfigError(`${name}_FILE: ${file} is empty`);
    resolved[name] = value;
  }
  return resolved;
}

/**
 * Reads the environment once, at the entry point, and freezes the result.
 * Empty strings count as unset, the way shells and `.env` files usually mean them; any
 * secret may come from a file instead (`GITHUB_TOKEN_FILE`, see readSecretFiles).
 * Throws a ConfigError whose message names the variable and never echoes a secret.
 */
export function resolveConfig(env: NodeJS.ProcessEnv): Config {
  const present = Object.fromEntries(
    Object.entries(readSecretFiles(env)).filter(([name, value]) => name in envSchema.shape && value !== undefined && value !== ''),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0]);
    const shown = SECRET_NAMES.has(name) ? '' : ` (got ${JSON.stringify(present[name])})`;
    throw new ConfigError(`${name}: ${issue.message}${shown}`);
  }
  const e = parsed.data;

  const github = resolveGitHub(e);
  const jira = resolveJira(e);
  const slack = resolveSlack(e);
  const publicUrl = (e.PUBLIC_URL ?? `http://${e.HOST}:${e.PORT}`).replace(/\/+$/, '');

  return Object.freeze({
    databaseUrl: e.DATABASE_URL,
    databasePreparedStatements: e.DATABASE_PREPARED_STATEMENTS === 'on',
    dataDir: path.resolve(e.COUNTERSIGN_DATA_DIR),
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    trustedProxies: e.TRUSTED_PROXIES,
    logLevel: e.LOG_LEVEL,
    signingKeyPem: e.COUNTERSIGN_SIGNING_KEY,
    auditRetentionMs: e.COUNTERSIGN_AUDIT_RETENTION === undefined ? undefined : parseDuration(e.COUNTERSIGN_AUDIT_RETENTION),
    auditWitnesses: resolveWitnesses(e, github, slack),
    auditWitnessIntervalMs: parseDuration(e.AUDIT_WITNESS_INTERVAL)!,
    github,
    jira,
    slack,
    email: resolveEmail(e),
    warnings: [...ignoredSettings(e, github, jira), ...(!slack && e.SLACK_SIGNING_SECRET ? ['SLACK_SIGNING_SECRET set, but not SLACK_BOT_TOKEN: Slack is off'] : [])],
  });
}

/** What is set but cannot take effect: silently starting with a provider off hides a typo or a missing token. */
function ignoredSettings(e: Env, github: Config['github'], jira: Config['jira']): string[] {
  const warnings: string[] = [];
  const githubSet = ['GITHUB_WEBHOOK_SECRET', 'GITHUB_WEBHOOK_SECRET_PREVIOUS'].filter((name) => e[name as keyof Env] !== undefined);
  if (!github && githubSet.length > 0) warnings.push(`${githubSet.join(' and ')} set, but neither GITHUB_TOKEN nor a GitHub App (GITHUB_APP_ID, GITHUB_PRIVATE_KEY, GITHUB_INSTALLATION_ID): the GitHub provider is off`);
  const jiraSet = ['JIRA_WEBHOOK_SECRET', 'JIRA_WEBHOOK_SECRET_PREVIOUS'].filter((name) => e[name as keyof Env] !== undefined);
  if (e.EMAIL_FROM !== undefined && e.SMTP_URL === undefined) warnings.push('EMAIL_FROM set, but not SMTP_URL: email is off');
  if (!jira && jiraSet.length > 0) warnings.push(`${jiraSet.join(' and ')} set, but not JIRA_HOST, JIRA_EMAIL and JIRA_API_TOKEN: the Jira provider is off`);
  return warnings;
}

type Env = z.infer<typeof envSchema>;

function resolveWitnesses(e: Env, github: Config['github'], slack: Config['slack']): WitnessSpec[] {
  if (e.AUDIT_WITNESS === undefined) return [];
  let specs: WitnessSpec[];
  try {
    specs = parseWitnessSpecs(e.AUDIT_WITNESS);
  } catch (error) {
    throw new ConfigError(`AUDIT_WITNESS: ${(error as Error).message}`);
  }
  const githubSpec = specs.find((spec) => spec.kind === 'github');
  if (githubSpec && !github) throw new ConfigError(`AUDIT_WITNESS: ${githubSpec.spec} needs GitHub credentials (GITHUB_TOKEN or a GitHub App, and GITHUB_WEBHOOK_SECRET)`);
  const slackSpec = specs.find((spec) => spec.kind === 'slack');
  if (slackSpec && !slack) throw new ConfigError(`AUDIT_WITNESS: ${slackSpec.spec} needs Slack settings (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET)`);
  return specs;
}

function resolveGitHub(e: Env): Config['github'] {
  const appParts = [e.GITHUB_APP_ID, e.GITHUB_PRIVATE_KEY, e.GITHUB_INSTALLATION_ID];
  const anyApp = appParts.some((part) => part !== undefined);
  if (!e.GITHUB_TOKEN && !anyApp) return undefined;
  if (anyApp && appParts.some((part) => part === undefined)) {
    const missing = ['GITHUB_APP_ID', 'GITHUB_PRIVATE_KEY', 'GITHUB_INSTALLATION_ID'].find((_, i) => appParts[i] === undefined)!;
    throw new ConfigError(`${missing}: required when any GitHub App setting is given`);
  }
  if (!e.GITHUB_WEBHOOK_SECRET) throw new ConfigError('GITHUB_WEBHOOK_SECRET: required when the GitHub provider is on');
  return Object.freeze({
    apiUrl: e.GITHUB_API_URL.replace(/\/+$/, ''),
    webhookSecret: e.GITHUB_WEBHOOK_SECRET,
    ...(e.GITHUB_WEBHOOK_SECRET_PREVIOUS ? { previousWebhookSecret: e.GITHUB_WEBHOOK_SECRET_PREVIOUS } : {}),
    ...(e.GITHUB_TOKEN ? { token: e.GITHUB_TOKEN } : {}),
    ...(anyApp ? { app: { appId: e.GITHUB_APP_ID!, privateKey: e.GITHUB_PRIVATE_KEY!, installationId: e.GITHUB_INSTALLATION_ID! } } : {}),
  });
}

function resolveJira(e: Env): Config['jira'] {
  const parts = { JIRA_HOST: e.JIRA_HOST, JIRA_EMAIL: e.JIRA_EMAIL, JIRA_API_TOKEN: e.JIRA_API_TOKEN };
  if (Object.values(parts).every((v) => v === undefined)) return undefined;
  const missing = Object.entries(parts).find(([, v]) => v === undefined);
  if (missing) throw new ConfigError(`${missing[0]}: required when any Jira setting is given`);
  if (!e.JIRA_WEBHOOK_SECRET) throw new ConfigError('JIRA_WEBHOOK_SECRET: required when the Jira provider is on');
  return Object.freeze({
    host: e.JIRA_HOST!.replace(/\/+$/, ''),
    email: e.JIRA_EMAIL!,
    apiToken: e.JIRA_API_TOKEN!,
    webhookSecret: e.JIRA_WEBHOOK_SECRET,
    ...(e.JIRA_WEBHOOK_SECRET_PREVIOUS ? { previousWebhookSecret: e.JIRA_WEBHOOK_SECRET_PREVIOUS } : {}),
  });
}

function resolveSlack(e: Env): Config['slack'] {
  if (!e.SLACK_BOT_TOKEN) return undefined;
  if (!e.SLACK_SIGNING_SECRET) throw new ConfigError("SLACK_SIGNING_SECRET: required when Slack is on (SLACK_BOT_TOKEN is set); copy it from the Slack app's Basic Information page");
  return Object.freeze({ botToken: e.SLACK_BOT_TOKEN, signingSecret: e.SLACK_SIGNING_SECRET, apiUrl: e.SLACK_API_URL.replace(/\/*$/, '/') });
}

function resolveEmail(e: Env): Config['email'] {
  if (e.SMTP_URL === undefined) return undefined;
  if (e.EMAIL_FROM === undefined) throw new ConfigError('EMAIL_FROM: required when SMTP_URL is set (the sender address of Countersign\'s emails)');
  return Object.freeze({ smtpUrl: e.SMTP_URL, from: e.EMAIL_FROM });
}
