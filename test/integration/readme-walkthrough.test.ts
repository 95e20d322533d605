import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cleanEnv, exited, freePort, startProcess, startServe, type RunningProcess, type ServeProcess } from '../helpers/countersign-process.ts';
import { until } from '../helpers/until.ts';
import { describeEachDatabase } from '../helpers/databases.ts';
import { approveInBrowser, lastSignInLink } from '../helpers/browser.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Block {
  /** The terminal the README says to paste it in. */
  terminal: number;
  code: string;
}

/**
 * The `sh` blocks of the README's walkthrough, in order, each with the terminal the prose before
 * it names ("Terminal 2, in the same folder", "Back in terminal 2"); a block with no new name
 * goes where the previous one went.
 */
async function walkthroughBlocks(): Promise<Block[]> {
  const readme = await fs.readFile(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## A five-minute walkthrough');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks: Block[] = [];
  let terminal = 1;
  let prose = 0;
  for (const match of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const named = [...section.slice(prose, match.index).matchAll(/terminal (\d)/gi)].at(-1);
    if (named) terminal = Number(named[1]);
    blocks.push({ terminal, code: match[1]! });
    prose = match.index + match[0].length;
  }
  return blocks;
}

/**
 * A folder that is the project as a newcomer's shell sees it, without writing into this
 * checkout: `npx countersign` and `npx node` resolve through `node_modules/.bin` (links to this
 * checkout's), and `examples/` is this checkout's.
 */
async function projectFolder(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-readme-'));
  const modules = path.join(ROOT, 'node_modules');
  await fs.mkdir(path.join(dir, 'node_modules', '.bin'), { recursive: true });
  for (const entry of await fs.readdir(modules)) {
    if (entry !== '.bin') await fs.symlink(path.join(modules, entry), path.join(dir, 'node_modules', entry));
  }
  for (const entry of await fs.readdir(path.join(modules, '.bin'))) {
    await fs.symlink(await fs.realpath(path.join(modules, '.bin', entry)), path.join(dir, 'node_modules', '.bin', entry));
  }
  await fs.symlink(path.join(ROOT, 'bin', 'countersign.js'), path.join(dir, 'node_modules', '.bin', 'countersign'));
  await fs.symlink(path.join(ROOT, 'examples'), path.join(dir, 'examples'));
  return dir;
}

/** How long a reader waits for a shell's answer before giving up: set-up, not a timed assertion. */
const PATIENCE_MS = 90_000;

/** A shell a person pastes blocks into, one after another; variables and background jobs carry over. */
class Terminal {
  readonly #shell: RunningProcess;
  #blocks = 0;

  constructor(cwd: string, env: NodeJS.ProcessEnv) {
    // -e and pipefail: a command that fails stops the walkthrough, as it would stop a reader.
    this.#shell = startProcess('bash', ['--noprofile', '--norc', '-eo', 'pipefail'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
  }

  get output(): string {
    return this.#shell.output();
  }

  /** Pastes a block and waits until the shell is ready for the next one. */
  async paste(code: string): Promise<void> {
    const marker = `__block_${++this.#blocks}_done__`;
    const { child } = this.#shell;
    child.stdin!.write(`${code}\necho ${marker}\n`);
    await until(() => this.output, (output) => output.includes(marker) || child.exitCode !== null, PATIENCE_MS);
    if (!this.output.includes(marker)) throw new Error(`the shell stopped (exit ${child.exitCode}) in:\n${code}\noutput:\n${this.output}`);
  }

  async close(): Promise<void> {
    this.#shell.child.stdin!.end('wait\nexit\n');
    await this.#shell.exited;
  }
}

describeEachDatabase('the README walkthrough, pasted as written', (database) => {
  let dir: string;
  let server: ServeProcess;
  let env: Record<string, string>;
  let dispose: (() => Promise<void>) | undefined;
  let port: number;

  beforeAll(async () => {
    dir = await projectFolder();
    port = await freePort();
    const created = database.name === 'postgres' ? await database.create() : undefined;
    dispose = created?.dispose;
    // With DATABASE_URL every terminal uses the same PostgreSQL database; without, the embedded one in ./.countersign.
    env = created?.target.kind === 'postgres' ? { DATABASE_URL: created.target.url } : {};
  }, 60_000);
  afterAll(async () => {
    if (server?.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await exited(server.child);
    }
    await dispose?.();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('answers every step as the README says', async () => {
    const blocks = await walkthroughBlocks();
    // Only the port differs from a reader's machine, so that runs do not collide on 8080.
    const paste = (code: string) => code.replaceAll('127.0.0.1:8080', `127.0.0.1:${port}`);
    expect(blocks[0]).toEqual({ terminal: 1, code: 'npm ci && npm start\n' });
    // `npm start` is `countersign serve`; npm ci ran before the test suite.
    server = await startServe({ cwd: dir, env, port });

    // The user's own shell: their PATH (system Node first) and nothing of the test runner's settings.
    // (COUNTERSIGN_URL: the example agent's default is http://127.0.0.1:8080, the port again.)
    const shellEnv = { ...cleanEnv(env), LOG_LEVEL: 'warn', COUNTERSIGN_URL: `http://127.0.0.1:${port}` };
    const terminal2 = new Terminal(dir, shellEnv);
    let terminal3: RunningProcess | undefined;
    for (const block of blocks.slice(1)) {
      if (block.terminal === 2) {
        await terminal2.paste(paste(block.code));
        // The browser path: open the link login-link printed, sign in, approve (test/helpers/browser.ts).
        if (block.code.includes('login-link')) await approveInBrowser(paste(lastSignInLink(terminal2.output)!), 'Publish the release notes');
      } else if (block.terminal === 3) {
        const agent = startProcess('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', paste(block.code)], { cwd: dir, env: shellEnv });
        terminal3 = agent;
        // The README: "It prints `requested apr_… (sha256:…); waiting for a reviewer`" before terminal 2 goes on.
        const asked = /requested apr_\w+ \(sha256:[0-9a-f]{64}\); waiting for a reviewer/;
        await until(agent.output, (output) => asked.test(output) || agent.child.exitCode !== null, PATIENCE_MS);
        if (agent.child.exitCode !== null) throw new Error(`terminal 3 stopped (exit ${agent.child.exitCode}):\n${agent.output()}`);
      } else {
        throw new Error(`a block for terminal ${block.terminal}, which the walkthrough does not open:\n${block.code}`);
      }
    }
    await terminal2.close();
    const out = terminal2.output;

    expect(out).toContain('billing-bot: created');
    // The long poll, answered by Alice's decision.
    expect(out).toMatch(/"status":"approved".*"decision":\{[^}]*"by":\["alice"\]/);
    expect(out).toMatch(/apr_\w+ {2}pending {3} billing-bot {2}medium {2}send_email {2}Send the drafted reply to ACME/);
    expect(out).toMatch(/payload hash: sha256:[0-9a-f]{64}\npayload:\n {4}\{\n {6}"to": "ops@acme\.example",\n {6}"body": "Hello"\n {4}\}\n/);
    expect(out).toMatch(/apr_\w+ is approved \(by alice\)\./);
    expect(out).toContain('"code":"already_decided"');
    expect(out).toMatch(/countersign_approvals\{project="billing-bot",provider="local",status="approved"\} 1$/m);
    // The histogram is the server process's own; on PostgreSQL the CLI decides in the database without it.
    if (database.name === 'pglite') expect(out).toMatch(/countersign_queue_seconds_count\{project="billing-bot",provider="local",risk="medium",outcome="approved"\} 1$/m);
    expect(out).toMatch(/apr_\w+ is approved \(by bob\)\./);
    expect(out).not.toMatch(/countersign: |Error|error:/);
    expect(out).toMatch(/"status":"approved"[^\n]*"summary":"Publish the release notes"|"summary":"Publish the release notes"[^\n]*"status":"approved"/);

    expect(terminal3).toBeDefined();
    expect(await terminal3!.exited).toBe(0);
    // The signed callback and the long poll race; the agent acts once and takes the callback either way.
    expect(terminal3!.output()).toMatch(/^approved: sending the email to ops@acme\.example$/m);
    expect(terminal3!.output()).toMatch(/^callback msg_\w+: approved$/m);
    expect(terminal3!.output().match(/sending the email/g)).toHaveLength(1);
    // The secret file the walkthrough keeps is the reader's alone.
    expect((await fs.stat(path.join(dir, 'agent-7.json'))).mode & 0o077).toBe(0);
  }, 240_000);
});
