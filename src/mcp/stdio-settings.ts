import { ConfigError } from '../config/config-error.ts';
import { readSecretFiles } from '../config/config.ts';
import { isProjectKey } from '../projects/mapping-schema.ts';

/** The settings of `countersign mcp` (mcp-help.ts lists the variables). */
export interface StdioSettings {
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly project: string | undefined;
  readonly permissionWaitSeconds: number;
}

const MAX_PERMISSION_WAIT_SECONDS = 24 * 3600;

/** Reads the environment once, at the command's start; a ConfigError names the variable and never echoes the key. */
export function resolveStdioSettings(rawEnv: NodeJS.ProcessEnv): StdioSettings {
  const env = readSecretFiles(rawEnv, ['COUNTERSIGN_KEY']);
  const baseUrl = env.COUNTERSIGN_URL || 'http://127.0.0.1:8080';
  let url: URL;
  try {
    url = new URL(baseUrl);
  } catch {
    throw new ConfigError(`COUNTERSIGN_URL: expected the server's URL, like http://127.0.0.1:8080`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('COUNTERSIGN_URL: expected an http:// or https:// URL');

  const apiKey = env.COUNTERSIGN_KEY;
  if (!apiKey) throw new ConfigError('COUNTERSIGN_KEY: not set; create one with `countersign keys create --name agent --scopes intake,read`');
  if (!/^csk_\S+$/.test(apiKey)) throw new ConfigError('COUNTERSIGN_KEY: expected an API key starting with csk_');

  const project = env.COUNTERSIGN_PROJECT || undefined;
  if (project !== undefined && !isProjectKey(project)) throw new ConfigError('COUNTERSIGN_PROJECT: expected a project key (lowercase letters, digits, ".", "_" or "-")');

  const wait = env.COUNTERSIGN_PERMISSION_WAIT || '50';
  const permissionWaitSeconds = Number(wait);
  if (!Number.isInteger(permissionWaitSeconds) || permissionWaitSeconds < 1 || permissionWaitSeconds > MAX_PERMISSION_WAIT_SECONDS) {
    throw new ConfigError(`COUNTERSIGN_PERMISSION_WAIT: expected whole seconds from 1 to ${MAX_PERMISSION_WAIT_SECONDS}`);
  }
  return Object.freeze({ baseUrl: baseUrl.replace(/\/+$/, ''), apiKey, project, permissionWaitSeconds });
}
