import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startCallbackReceiver, type CallbackReceiver } from '../../test/helpers/callback-receiver.ts';
import { countersign, exited, freePort, startServe, type ServeProcess } from '../../test/helpers/countersign-process.ts';
import { startFakeGitHub, type FakeGitHub } from '../../test/helpers/fake-github.ts';
import { startFakeJira, type FakeJira } from '../../test/helpers/fake-jira.ts';
import { startFaultProxy, type FaultProxy } from './fault-proxy.ts';

export const GITHUB_SECRET = 'soak-github-secret';
export const JIRA_SECRET = 'soak-jira-secret';
export const JIRA_REVIEWERS = ['acc-alice', 'acc-bob'];

/** One `countersign serve` slot: its port and data directory stay when it is killed and restarted. */
export interface Instance {
  readonly index: number;
  readonly port: number;
  readonly url: string;
  process: ServeProcess | undefined;
  /** Earlier processes' logs, kept across restarts for the report. */
  logs: string[];
}

export interface SoakStand {
  readonly instances: Instance[];
  readonly github: FakeGitHub;
  readonly jira: FakeJira;
  readonly githubProxy: FaultProxy;
  readonly jiraProxy: FaultProxy;
  readonly receiver: CallbackReceiver;
  /** The environment every instance and CLI run gets (database, providers, signing key). */
  readonly env: Record<string, string>;
  readonly cwd: string;
  cli(args: string[]): Promise<string>;
  kill(instance: Instance): Promise<void>;
  start(instance: Instance): Promise<void>;
  /** Instances up now. */
  live(): Instance[];
  /** Server processes that exited without being told to (each restarted, as a supervisor would). */
  readonly unexpectedExits: Array<{ instance: number; code: number | null; signal: string | null; at: string; lastLog: string }>;
  stopInstances(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Everything the soak runs against: the fakes of the tests behind fault proxies, the agents'
 * callback receiver, and N real server processes on one database (`databaseUrl`), or one on the
 * embedded default when it is undefined. One signing key for all, as a deployment of several
 * instances sets `COUNTERSIGN_SIGNING_KEY`.
 */
export async function startSoakStand(options: { instances: number; databaseUrl: string | undefined }): Promise<SoakStand> {
  const cwd = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-soak-'));
  const github = await startFakeGitHub({ secret: GITHUB_SECRET });
  const jira = await startFakeJira({ secret: JIRA_SECRET });
  const githubProxy = await startFaultProxy(github.url);
  const jiraProxy = await startFaultProxy(jira.url);
  const receiver = await startCallbackReceiver();
  const signingKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const env: Record<string, string> = {
    ...github.serverEnv,
    GITHUB_API_URL: githubProxy.url,
    ...jira.serverEnv,
    JIRA_HOST: jiraProxy.url,
    COUNTERSIGN_SIGNING_KEY: signingKey,
    COUNTERSIGN_DATA_DIR: path.join(cwd, 'data'),
    ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
  };
  const instances: Instance[] = [];
  for (let index = 0; index < options.instances; index++) {
    const port = await freePort();
    instances.push({ index, port, url: `http://127.0.0.1:${port}`, process: undefined, logs: [] });
  }
  const dataDirOf = (instance: Instance) => (options.databaseUrl ? path.join(cwd, `data-${instance.index}`) : env.COUNTERSIGN_DATA_DIR!);
  const unexpectedExits: SoakStand['unexpectedExits'] = [];
  let closing = false;
  const start = async (instance: Instance): Promise<void> => {
    const running = await startServe({ cwd, env: { ...env, COUNTERSIGN_DATA_DIR: dataDirOf(instance) }, port: instance.port });
    instance.process = running;
    running.child.once('exit', (code, signal) => {
      if (instance.process !== running || closing) return; // killed or stopped by the soak itself
      instance.process = undefined;
      instance.logs.push(running.log());
      unexpectedExits.push({ instance: instance.index, code, signal, at: new Date().toISOString(), lastLog: running.log().trim().split('\n').slice(-3).join('\n') });
      const restart = (): void => {
        if (!closing) void start(instance).catch(() => setTimeout(restart, 2000));
      };
      setTimeout(restart, 1000);
    });
  };
  const kill = async (instance: Instance) => {
    const running = instance.process;
    if (!running) return;
    instance.process = undefined;
    running.child.kill('SIGKILL');
    await exited(running.child);
    instance.logs.push(running.log());
  };
  const stand: SoakStand = {
    instances,
    github,
    jira,
    githubProxy,
    jiraProxy,
    receiver,
    env,
    cwd,
    async cli(args) {
      const run = await countersign(args, { cwd, env: { ...env, COUNTERSIGN_DATA_DIR: dataDirOf(instances[0]!) } });
      if (run.code !== 0) throw new Error(`countersign ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
      return run.stdout;
    },
    kill,
    start,
    live: () => instances.filter((i) => i.process),
    unexpectedExits,
    async stopInstances() {
      closing = true;
      for (const instance of instances) {
        const running = instance.process;
        if (!running) continue;
        instance.process = undefined;
        running.child.kill('SIGTERM');
        await exited(running.child);
        instance.logs.push(running.log());
      }
    },
    async close() {
      await stand.stopInstances();
      await githubProxy.stop();
      await jiraProxy.stop();
      await receiver.close();
      await github.stop();
      await jira.stop();
      await fs.rm(cwd, { recursive: true, force: true });
    },
  };
  return stand;
}
