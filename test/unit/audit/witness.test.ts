import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkpointFileName, createDirWitness } from '../../../src/audit/witness/dir-witness.ts';
import { checkpointComment, createGitHubWitness, type IssueComments } from '../../../src/audit/witness/github-witness.ts';
import { WitnessConflictError } from '../../../src/audit/witness/witness-store.ts';
import { ConfigError, resolveConfig } from '../../../src/config/config.ts';
import { parseWitnessSpecs } from '../../../src/config/witness-spec.ts';

describe('AUDIT_WITNESS specs', () => {
  it('parses dir, github and slack specs, comma-separated', () => {
    expect(parseWitnessSpecs('dir:/var/lib/w, github:acme/audit.log#12,slack:C0123ABCD')).toEqual([
      { kind: 'dir', spec: 'dir:/var/lib/w', path: '/var/lib/w' },
      { kind: 'github', spec: 'github:acme/audit.log#12', owner: 'acme', repo: 'audit.log', issue: 12 },
      { kind: 'slack', spec: 'slack:C0123ABCD', channel: 'C0123ABCD' },
    ]);
  });

  it.each([
    ['dir:relative/path', /dir: needs an absolute path/],
    ['github:acme/audit', /expected github:OWNER\/REPO#ISSUE/],
    ['github:acme/audit#0', /expected github:OWNER\/REPO#ISSUE/],
    ['slack:general', /the channel's id, not its name/],
    ['s3://bucket', /expected dir:\/PATH, github:OWNER\/REPO#ISSUE or slack:CHANNEL_ID/],
    ['dir:/a,dir:/a', /listed twice/],
    [' , ', /expected at least one/],
  ])('refuses %s', (spec, message) => {
    expect(() => parseWitnessSpecs(spec)).toThrow(message);
  });

  it('is resolved once at start: a bad value, and GitHub or Slack without their settings, stop it with one line', () => {
    expect(resolveConfig({ AUDIT_WITNESS: 'dir:/w' })).toMatchObject({ auditWitnesses: [{ kind: 'dir', path: '/w' }], auditWitnessIntervalMs: 3_600_000 });
    expect(() => resolveConfig({ AUDIT_WITNESS: 'dir:w' })).toThrow(new ConfigError('AUDIT_WITNESS: "dir:w": dir: needs an absolute path, e.g. dir:/var/lib/countersign-witness'));
    expect(() => resolveConfig({ AUDIT_WITNESS: 'github:acme/audit#1' })).toThrow(/AUDIT_WITNESS: github:acme\/audit#1 needs GitHub credentials/);
    expect(() => resolveConfig({ AUDIT_WITNESS: 'slack:C0123ABCD' })).toThrow(/AUDIT_WITNESS: slack:C0123ABCD needs Slack settings/);
    expect(resolveConfig({ AUDIT_WITNESS: 'slack:C0123ABCD', SLACK_BOT_TOKEN: 'xoxb-test', SLACK_SIGNING_SECRET: 'secret' }).auditWitnesses).toEqual([{ kind: 'slack', spec: 'slack:C0123ABCD', channel: 'C0123ABCD' }]);
    expect(() => resolveConfig({ AUDIT_WITNESS: 'dir:/w', AUDIT_WITNESS_INTERVAL: '10s' })).toThrow(/AUDIT_WITNESS_INTERVAL: expected a duration of at least 1m/);
  });
});

describe('directory witness', () => {
  it('creates one file per checkpoint, never rewrites one, and says so when a different checkpoint of the same size arrives', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-dir-witness-'));
    try {
      const witness = createDirWitness(`dir:${dir}`, dir);
      await witness.publish({ treeSize: 7, note: 'note seven\n' });
      await witness.publish({ treeSize: 7, note: 'note seven\n' });
      await witness.publish({ treeSize: 12, note: 'note twelve\n' });
      expect(await fs.readdir(dir)).toEqual([checkpointFileName(7), checkpointFileName(12)]);
      await expect(witness.publish({ treeSize: 7, note: 'a fork\n' })).rejects.toBeInstanceOf(WitnessConflictError);
      expect(await fs.readFile(path.join(dir, checkpointFileName(7)), 'utf8')).toBe('note seven\n');
      expect(await witness.read()).toEqual([
        { name: `dir:${dir}/${checkpointFileName(7)}`, note: 'note seven\n' },
        { name: `dir:${dir}/${checkpointFileName(12)}`, note: 'note twelve\n' },
      ]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('GitHub witness', () => {
  it('reads back only marked comments, and does not post a checkpoint it posted recently again', async () => {
    const posted: string[] = [];
    const comments: IssueComments = {
      list: async () => [{ body: 'a person talking', url: 'u0' }, ...posted.map((body, i) => ({ body, url: `u${i + 1}` }))],
      create: async (body) => void posted.push(body),
    };
    const witness = createGitHubWitness('github:acme/audit#1', comments);
    await witness.publish({ treeSize: 3, note: 'origin\n3\nroot\n\n— sig\n' });
    await witness.publish({ treeSize: 3, note: 'origin\n3\nroot\n\n— sig\n' });
    expect(posted).toEqual([checkpointComment(3, 'origin\n3\nroot\n\n— sig\n')]);
    expect(await witness.read()).toEqual([{ name: 'u1', note: 'origin\n3\nroot\n\n— sig\n' }]);
  });
});
