import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.ts';
import { MCP_VARIABLES } from '../../../src/mcp/mcp-help.ts';
import { resolveStdioSettings } from '../../../src/mcp/stdio-settings.ts';

const KEY = 'csk_abcdefghijklmnopqrstuvwxyz0123456789';

describe('resolveStdioSettings (countersign mcp)', () => {
  it('defaults to the local server and a 50 s permission wait, and freezes the result', () => {
    const settings = resolveStdioSettings({ COUNTERSIGN_KEY: KEY });
    expect(settings).toEqual({ baseUrl: 'http://127.0.0.1:8080', apiKey: KEY, project: undefined, permissionWaitSeconds: 50 });
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it('reads the key from COUNTERSIGN_KEY_FILE', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-mcp-'));
    try {
      await fs.writeFile(path.join(dir, 'key'), `${KEY}\n`);
      expect(resolveStdioSettings({ COUNTERSIGN_KEY_FILE: path.join(dir, 'key'), COUNTERSIGN_URL: 'https://cs.example/', COUNTERSIGN_PROJECT: 'billing-bot' })).toMatchObject({
        apiKey: KEY,
        baseUrl: 'https://cs.example',
        project: 'billing-bot',
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('names the variable of every bad setting, never echoing the key, and --help lists exactly those variables', () => {
    const bad: Record<string, NodeJS.ProcessEnv> = {
      COUNTERSIGN_URL: { COUNTERSIGN_KEY: KEY, COUNTERSIGN_URL: 'ftp://cs.example' },
      COUNTERSIGN_KEY: { COUNTERSIGN_KEY: 'not-a-key-secret-value' },
      COUNTERSIGN_PROJECT: { COUNTERSIGN_KEY: KEY, COUNTERSIGN_PROJECT: 'Billing Bot' },
      COUNTERSIGN_PERMISSION_WAIT: { COUNTERSIGN_KEY: KEY, COUNTERSIGN_PERMISSION_WAIT: '0' },
    };
    for (const [name, env] of Object.entries(bad)) {
      const error = (() => {
        try {
          resolveStdioSettings(env);
        } catch (caught) {
          return caught as Error;
        }
        throw new Error(`${name}: accepted`);
      })();
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.message.startsWith(`${name}: `)).toBe(true);
      expect(error.message).not.toContain('not-a-key-secret-value');
    }
    expect(resolveStdioSettings.bind(null, {})).toThrow(/^COUNTERSIGN_KEY: not set/);
    expect(MCP_VARIABLES.map(([name]) => name).sort()).toEqual(Object.keys(bad).sort());
  });
});
