import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SERVE_VARIABLES } from '../../../src/cli/serve-help.ts';
import { CONFIG_NAMES, ConfigError, resolveConfig, SECRET_NAMES } from '../../../src/config/config.ts';

/** The one line start-up prints, or undefined when the environment is accepted. */
const failure = (env: Record<string, string>): string | undefined => {
  try {
    resolveConfig(env);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
};

describe('the documented environment', () => {
  it('serve --help and the README name exactly the variables the service reads', () => {
    expect(SERVE_VARIABLES.map(([name]) => name).sort()).toEqual([...CONFIG_NAMES].sort());
    const readme = fs.readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    for (const name of CONFIG_NAMES) expect(readme, name).toContain(`\`${name}\``);
  });
});

describe('resolveConfig', () => {
  describe('Slack', () => {
    it('is off without SLACK_BOT_TOKEN, and says so when only the signing secret is set', () => {
      expect(resolveConfig({}).slack).toBeUndefined();
      expect(resolveConfig({ SLACK_SIGNING_SECRET: 's3cret' }).warnings).toEqual(['SLACK_SIGNING_SECRET set, but not SLACK_BOT_TOKEN: Slack is off']);
    });
    it('needs the signing secret with the token, naming where to find it and echoing neither', () => {
      const message = failure({ SLACK_BOT_TOKEN: 'xoxb-123-secret' });
      expect(message).toMatch(/^SLACK_SIGNING_SECRET: required when Slack is on .*Basic Information/);
      expect(message).not.toContain('xoxb-123-secret');
    });
    it('defaults the Web API URL and keeps its trailing slash (the client joins method names to it)', () => {
      expect(resolveConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's' }).slack).toEqual({ botToken: 'xoxb-1', signingSecret: 's', apiUrl: 'https://slack.com/api/' });
      expect(resolveConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_SIGNING_SECRET: 's', SLACK_API_URL: 'http://127.0.0.1:9/api' }).slack?.apiUrl).toBe('http://127.0.0.1:9/api/');
    });
  });

  it('uses the contract defaults when nothing is set', () => {
    const config = resolveConfig({});
    expect(config).toMatchObject({
      databaseUrl: undefined,
      dataDir: path.resolve('.countersign'),
      port: 8080,
      host: '127.0.0.1',
      publicUrl: 'http://127.0.0.1:8080',
      logLevel: 'info',
      signingKeyPem: undefined,
      github: undefined,
      jira: undefined,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('takes the values it is given, derives PUBLIC_URL from HOST and PORT, and ignores unrelated variables', () => {
    const config = resolveConfig({ PORT: '9001', HOST: '0.0.0.0', LOG_LEVEL: 'debug', DATABASE_URL: 'postgresql://u@db/x', COUNTERSIGN_DATA_DIR: '/tmp/cs', PATH: '/bin' });
    expect(config).toMatchObject({ port: 9001, host: '0.0.0.0', publicUrl: 'http://0.0.0.0:9001', logLevel: 'debug', databaseUrl: 'postgresql://u@db/x', dataDir: '/tmp/cs' });
    expect(resolveConfig({ PUBLIC_URL: 'https://approvals.example/' }).publicUrl).toBe('https://approvals.example');
  });

  it('treats empty strings as unset', () => {
    expect(resolveConfig({ PORT: '', DATABASE_URL: '', GITHUB_TOKEN: '' })).toMatchObject({ port: 8080, databaseUrl: undefined, github: undefined });
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['PORT', '80.5'],
    ['PORT', '-1'],
    ['LOG_LEVEL', 'verbose'],
    ['PUBLIC_URL', 'not a url'],
    ['GITHUB_API_URL', 'api.github'],
  ])('refuses %s=%s in one line that names the variable and shows the value', (name, value) => {
    const message = failure({ [name]: value });
    expect(message).toBeDefined();
    expect(message!.startsWith(`${name}: `)).toBe(true);
    expect(message).not.toContain('\n');
    expect(message).toContain(JSON.stringify(value));
  });

  it('reads the audit retention as a duration, and names the variable when it is not one', () => {
    expect(resolveConfig({ COUNTERSIGN_AUDIT_RETENTION: '90d' }).auditRetentionMs).toBe(90 * 86_400_000);
    expect(resolveConfig({}).auditRetentionMs).toBeUndefined();
    expect(failure({ COUNTERSIGN_AUDIT_RETENTION: 'three months' })).toMatch(/^COUNTERSIGN_AUDIT_RETENTION: expected a duration/);
  });

  it('lists the valid log levels when LOG_LEVEL is wrong', () => {
    expect(failure({ LOG_LEVEL: 'loud' })).toMatch(/^LOG_LEVEL: .*"warn"/);
  });

  it.each([
    ['DATABASE_URL', 'mysql://root:hunter2-secret@db/app'],
    ['COUNTERSIGN_SIGNING_KEY', 'hunter2-secret-not-a-pem'],
  ])('refuses a malformed %s without echoing it', (name, value) => {
    const message = failure({ [name]: value });
    expect(message).toBeDefined();
    expect(message!.startsWith(`${name}: `)).toBe(true);
    expect(message).not.toContain('\n');
    expect(message).not.toContain('hunter2');
  });

  it('accepts a PEM signing key', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIB\n-----END PRIVATE KEY-----\n';
    expect(resolveConfig({ COUNTERSIGN_SIGNING_KEY: pem }).signingKeyPem).toBe(pem);
  });

  describe('GitHub provider', () => {
    it('is on with a token and a webhook secret', () => {
      const config = resolveConfig({ GITHUB_TOKEN: 'ghp_secret', GITHUB_WEBHOOK_SECRET: 'whs', GITHUB_API_URL: 'http://127.0.0.1:9999/api/v3/' });
      expect(config.github).toEqual({ apiUrl: 'http://127.0.0.1:9999/api/v3', webhookSecret: 'whs', token: 'ghp_secret' });
    });

    it('is on as a GitHub App when all three App settings are given', () => {
      const config = resolveConfig({ GITHUB_APP_ID: '1', GITHUB_PRIVATE_KEY: 'pem', GITHUB_INSTALLATION_ID: '2', GITHUB_WEBHOOK_SECRET: 'whs' });
      expect(config.github?.app).toEqual({ appId: '1', privateKey: 'pem', installationId: '2' });
      expect(config.github?.token).toBeUndefined();
    });

    it('refuses a token without GITHUB_WEBHOOK_SECRET, naming it and not the token', () => {
      const message = failure({ GITHUB_TOKEN: 'ghp_topsecret' });
      expect(message).toMatch(/^GITHUB_WEBHOOK_SECRET: /);
      expect(message).not.toContain('ghp_topsecret');
    });

    it.each([
      [{ GITHUB_APP_ID: '1' }, 'GITHUB_PRIVATE_KEY'],
      [{ GITHUB_APP_ID: '1', GITHUB_PRIVATE_KEY: 'pem-secret' }, 'GITHUB_INSTALLATION_ID'],
      [{ GITHUB_PRIVATE_KEY: 'pem-secret', GITHUB_INSTALLATION_ID: '2' }, 'GITHUB_APP_ID'],
    ])('refuses a partial GitHub App (%o), naming %s', (env, missing) => {
      const message = failure({ ...env, GITHUB_WEBHOOK_SECRET: 'whs' });
      expect(message).toMatch(new RegExp(`^${missing}: `));
      expect(message).not.toContain('pem-secret');
    });
    it('keeps the previous webhook secret during a rotation', () => {
      const config = resolveConfig({ GITHUB_TOKEN: 't', GITHUB_WEBHOOK_SECRET: 'new', GITHUB_WEBHOOK_SECRET_PREVIOUS: 'old' });
      expect(config.github).toMatchObject({ webhookSecret: 'new', previousWebhookSecret: 'old' });
      expect(config.warnings).toEqual([]);
    });

    it('says at start that a webhook secret without a token leaves GitHub off', () => {
      const config = resolveConfig({ GITHUB_WEBHOOK_SECRET: 'whs' });
      expect(config.github).toBeUndefined();
      expect(config.warnings).toEqual([expect.stringMatching(/^GITHUB_WEBHOOK_SECRET set, but neither GITHUB_TOKEN nor a GitHub App .*: the GitHub provider is off$/)]);
      expect(config.warnings.join()).not.toContain('whs');
    });
  });

  describe('Jira provider', () => {
    const full = { JIRA_HOST: 'https://acme.atlassian.net/', JIRA_EMAIL: 'bot@acme.example', JIRA_API_TOKEN: 'jira-secret', JIRA_WEBHOOK_SECRET: 'jws' };

    it('is on when host, email, token and webhook secret are given', () => {
      expect(resolveConfig(full).jira).toEqual({ host: 'https://acme.atlassian.net', email: 'bot@acme.example', apiToken: 'jira-secret', webhookSecret: 'jws' });
    });

    it('keeps the previous webhook secret during a rotation, and says when a secret has no Jira to go with', () => {
      expect(resolveConfig({ ...full, JIRA_WEBHOOK_SECRET_PREVIOUS: 'old' }).jira).toMatchObject({ webhookSecret: 'jws', previousWebhookSecret: 'old' });
      expect(resolveConfig({ JIRA_WEBHOOK_SECRET: 'jws' }).warnings).toEqual([expect.stringContaining('the Jira provider is off')]);
    });

    it.each(['JIRA_HOST', 'JIRA_EMAIL', 'JIRA_API_TOKEN', 'JIRA_WEBHOOK_SECRET'])('refuses the settings without %s, naming it and echoing no secret', (missing) => {
      const env: Record<string, string> = { ...full };
      delete env[missing];
      const message = failure(env);
      expect(message).toMatch(new RegExp(`^${missing}: `));
      expect(message).not.toContain('jira-secret');
      expect(message).not.toContain('\n');
    });
  });

  describe('secrets given as files (NAME_FILE)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'countersign-config-'));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const secretFile = (name: string, content: string) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, content);
      return file;
    };

    it('reads each secret from its file, without the trailing newline', () => {
      const github = { GITHUB_TOKEN_FILE: secretFile('token', 'ghp_from_file\n'), GITHUB_WEBHOOK_SECRET_FILE: secretFile('whs', 'whs-from-file\r\n') };
      expect(resolveConfig(github).github).toMatchObject({ token: 'ghp_from_file', webhookSecret: 'whs-from-file' });
      const jira = { JIRA_HOST: 'https://acme.atlassian.net', JIRA_EMAIL: 'bot@acme.example', JIRA_API_TOKEN_FILE: secretFile('jira', 'jira-token\n'), JIRA_WEBHOOK_SECRET_FILE: secretFile('jws', 'jws\n') };
      expect(resolveConfig(jira).jira).toMatchObject({ apiToken: 'jira-token', webhookSecret: 'jws' });
      expect(resolveConfig({ DATABASE_URL_FILE: secretFile('db', 'postgres://u:p@db/x\n') }).databaseUrl).toBe('postgres://u:p@db/x');
      const pem = '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----\n';
      expect(resolveConfig({ COUNTERSIGN_SIGNING_KEY_FILE: secretFile('key.pem', pem) }).signingKeyPem).toBe(pem.trimEnd());
      const app = { GITHUB_APP_ID: '1', GITHUB_INSTALLATION_ID: '2', GITHUB_PRIVATE_KEY_FILE: secretFile('app.pem', 'app-pem\n'), GITHUB_WEBHOOK_SECRET: 'w' };
      expect(resolveConfig(app).github?.app?.privateKey).toBe('app-pem');
    });

    it('covers every secret variable', () => {
      expect([...SECRET_NAMES].sort()).toEqual(['COUNTERSIGN_SIGNING_KEY', 'DATABASE_URL', 'GITHUB_PRIVATE_KEY', 'GITHUB_TOKEN', 'GITHUB_WEBHOOK_SECRET', 'GITHUB_WEBHOOK_SECRET_PREVIOUS', 'JIRA_API_TOKEN', 'JIRA_WEBHOOK_SECRET', 'JIRA_WEBHOOK_SECRET_PREVIOUS', 'SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'SMTP_URL']);
    });

    it('refuses a secret given both ways, naming both variables', () => {
      const message = failure({ GITHUB_TOKEN: 'ghp_env', GITHUB_TOKEN_FILE: secretFile('both', 'ghp_file'), GITHUB_WEBHOOK_SECRET: 'w' });
      expect(message).toBe('GITHUB_TOKEN and GITHUB_TOKEN_FILE are both set; set only one of them');
    });

    it('says in one line which file it cannot read, and never what is in one', () => {
      const missing = path.join(dir, 'nope');
      expect(failure({ GITHUB_TOKEN_FILE: missing, GITHUB_WEBHOOK_SECRET: 'w' })).toBe(`GITHUB_TOKEN_FILE: cannot read ${missing} (ENOENT)`);
      expect(failure({ JIRA_API_TOKEN_FILE: dir })).toBe(`JIRA_API_TOKEN_FILE: cannot read ${dir} (EISDIR)`);
      expect(failure({ GITHUB_TOKEN_FILE: secretFile('empty', '\n'), GITHUB_WEBHOOK_SECRET: 'w' })).toBe(`GITHUB_TOKEN_FILE: ${path.join(dir, 'empty')} is empty`);
      const malformed = failure({ DATABASE_URL_FILE: secretFile('bad-db', 'mysql://root:hunter2@db/x\n') });
      expect(malformed).toMatch(/^DATABASE_URL: /);
      expect(malformed).not.toContain('hunter2');
    });

    it('ignores an empty NAME_FILE, like an empty NAME', () => {
      expect(resolveConfig({ GITHUB_TOKEN_FILE: '' }).github).toBeUndefined();
    });
  });
});

describe('email settings (SMTP_URL, EMAIL_FROM)', () => {
  it('is off without SMTP_URL, and says EMAIL_FROM alone does nothing', () => {
    expect(resolveConfig({}).email).toBeUndefined();
    expect(resolveConfig({ EMAIL_FROM: 'cs@acme.example' }).warnings).toContain('EMAIL_FROM set, but not SMTP_URL: email is off');
  });

  it('needs EMAIL_FROM with SMTP_URL, and never echoes the URL (it holds the password)', () => {
    expect(failure({ SMTP_URL: 'smtp://u:hunter2@mail.acme.example:587' })).toMatch(/^EMAIL_FROM: required when SMTP_URL is set/);
    const bad = failure({ SMTP_URL: 'http://u:hunter2@mail.acme.example', EMAIL_FROM: 'cs@acme.example' });
    expect(bad).toMatch(/^SMTP_URL: must be an smtp:\/\/ or smtps:\/\/ URL/);
    expect(bad).not.toContain('hunter2');
    expect(resolveConfig({ SMTP_URL: 'smtps://mail.acme.example', EMAIL_FROM: 'Countersign <cs@acme.example>' }).email).toEqual({ smtpUrl: 'smtps://mail.acme.example', from: 'Countersign <cs@acme.example>' });
  });
});
