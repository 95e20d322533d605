import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

/** The real executable, run as `npx countersign …` would run it. */
export const BIN = fileURLToPath(new URL('../../bin/countersign.js', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a user's shell, without any countersign setting of ours leaking in. */
export function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (/^(DATABASE_URL|PORT|HOST|PUBLIC_URL|LOG_LEVEL|GITHUB_|JIRA_|COUNTERSIGN_)/.test(name)) delete env[name];
  }
  return { ...env, LOG_LEVEL: 'warn', ...extra };
}

/** Runs one command to its end. */
export function countersign(args: string[], options: { cwd: string; env: Record<string, string> }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: options.cwd, env: cleanEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface RunningProcess {
  readonly child: ChildProcess;
  /** Everything it wrote so far, stdout and stderr in the order they arrived. */
  output(): string;
  /** Its exit code, once it has exited and its output is all read; rejects when it could not start. */
  readonly exited: Promise<number | null>;
}

/** Starts any process (an agent, a shell) and keeps what it writes; stdin is closed unless `stdio` says otherwise. */
export function startProcess(command: string, args: string[], options: SpawnOptions = {}): RunningProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const closed = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  return { child, output: () => output, exited: closed };
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Everything the server wrote to stderr so far (its log at LOG_LEVEL warn). */
  log(): string;
}

/**
 * Starts `countersign serve` and resolves once `/readyz` answers 200. Waiting for readiness
 * is set-up, not an assertion: the deadline only turns a server that never comes up into an
 * error that shows its log.
 */
export async function startServe(options: { cwd: string; env: Record<string, string>; port: number }): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd: options.cwd, env: cleanEnv({ ...options.env, PORT: String(options.port) }), stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const url = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 50_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited with ${child.exitCode}:\n${log}`);
    const ready = await fetch(`${url}/readyz`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`serve did not become ready:\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, url, log: () => log };
}
