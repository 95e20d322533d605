/**
 * The soak and fault run (issue 19): N real `countersign serve` processes on one fresh
 * PostgreSQL database (or one on the embedded default), the fake GitHub and Jira of the tests
 * behind fault proxies, agents posting intake at a rate, reviewers deciding through every
 * channel, and faults on a schedule. It then waits for the system to settle, checks that nothing
 * was lost or done twice, writes bench/results/soak.json and exits 1 on any loss or duplicate.
 *
 *   npm run soak -- --instances 2 --seconds 120 --rate 20 --faults kill,pg-restart,provider-5xx,provider-429,receiver-down
 *   npm run soak -- --database pglite --seconds 60 --faults kill        # the embedded default, one instance
 *   npm run soak:ci                                                     # 60 s, one kill, one provider-5xx window
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../../src/config/logger.ts';
import { openDatabase, type DatabaseTarget } from '../../src/db/open-database.ts';
import { percentile } from '../bench-server.ts';
import { withFreshDatabase } from '../bench-postgres.ts';
import { checkOutcome, indexCallbacks } from './soak-checks.ts';
import { startPrivatePostgres, type PrivatePostgres } from './private-postgres.ts';
import { startSoakStand, type SoakStand } from './soak-stand.ts';
import { parseMix, PROJECTS, startAgents, startDeciders, type Keys, type Tracked } from './soak-traffic.ts';

const FAULTS = ['kill', 'pg-restart', 'provider-5xx', 'provider-429', 'provider-hang', 'receiver-down'] as const;
type Fault = (typeof FAULTS)[number];

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '120' },
    rate: { type: 'string', default: '20' },
    faults: { type: 'string', default: 'kill,provider-5xx' },
    database: { type: 'string', default: 'postgres' },
    'settle-seconds': { type: 'string', default: '240' },
    // e.g. local:1,github:1,batch:4 (default: local:3,quorum:1,github:2,jira:2,escalate:1,batch:1)
    mix: { type: 'string' },
    // Keep the database (and the private PostgreSQL server) after the run; a failed run always keeps it.
    'keep-database': { type: 'boolean', default: false },
    out: { type: 'string', default: 'bench/results/soak.json' },
  },
});
const instances = Number(values.instances);
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const settleSeconds = Number(values['settle-seconds']);
const faults = values.faults ? values.faults.split(',').map((f) => f.trim()).filter(Boolean) : [];
const embedded = values.database === 'pglite';
const mix = parseMix(values.mix);
let keepDatabase = values['keep-database'];
for (const fault of faults) if (!(FAULTS as readonly string[]).includes(fault)) throw new Error(`--faults: unknown fault ${fault}; expected some of ${FAULTS.join(', ')}`);
if (embedded && (instances !== 1 || faults.some((f) => f !== 'kill'))) throw new Error('--database pglite: one instance (--instances 1) and kills only (--faults kill): the embedded database is one process\'s');
if (!(instances >= 1 && seconds >= 10 && rate > 0)) throw new Error('expected --instances ≥ 1, --seconds ≥ 10, --rate > 0');

// The pg-restart fault restarts a PostgreSQL server of the soak's own (private-postgres.ts), never
// the machine's shared one; without that fault the run uses a fresh database on TEST_DATABASE_URL's.
const privatePostgres: PrivatePostgres | undefined = !embedded && faults.includes('pg-restart') ? await startPrivatePostgres() : undefined;
if (privatePostgres) process.once('SIGINT', () => void privatePostgres.stop().finally(() => process.exit(130)));
const adminUrl = privatePostgres?.adminUrl ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const log = (line: string) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface FaultWindow {
  fault: Fault;
  start: number;
  end: number;
  detail?: string;
  recoveredMs?: number | null;
}

async function readyAgain(stand: SoakStand) {
  // Readiness answers once the server reaches its database again.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const ok = await Promise.all(stand.live().map((i) => fetch(`${i.url}/readyz`).then((r) => r.ok, () => false)));
    if (ok.every(Boolean)) return;
    await sleep(250);
  }
}

async function runFault(stand: SoakStand, fault: Fault, windowMs: number): Promise<FaultWindow> {
  const start = Date.now();
  const window: FaultWindow = { fault, start, end: start };
  if (fault === 'kill') {
    const live = stand.live();
    const victim = live[Math.floor(Math.random() * live.length)]!;
    window.detail = `instance ${victim.index}`;
    await stand.kill(victim);
    await sleep(2000);
    await stand.start(victim);
  } else if (fault === 'pg-restart') {
    await privatePostgres!.restart();
    await readyAgain(stand);
  } else if (fault.startsWith('provider-')) {
    const mode = fault === 'provider-5xx' ? '5xx' : fault === 'provider-429' ? '429' : 'hang';
    stand.githubProxy.mode = mode;
    stand.jiraProxy.mode = mode;
    await sleep(windowMs);
    stand.githubProxy.mode = 'pass';
    stand.jiraProxy.mode = 'pass';
  } else {
    stand.receiver.answer(503);
    await sleep(windowMs);
    stand.receiver.answer(200);
  }
  window.end = Date.now();
  return window;
}

/** Per-approval facts the settle loop has confirmed, so each is asked for once. */
interface Seen {
  ticket: Set<string>;
  final: Map<string, string>;
}

/** Asks an instance about approvals not yet confirmed (ticket or batch, and final status), at most `limit` of them. */
async function refresh(stand: SoakStand, agent: string, items: Tracked[], seen: Seen, limit = 100) {
  const todo = items.filter((t) => !seen.ticket.has(t.id) || (!seen.final.has(t.id) && (t.decidedAt !== undefined || t.kind === 'escalate'))).slice(0, limit);
  for (let i = 0; i < todo.length; i += 10) {
    await Promise.all(
      todo.slice(i, i + 10).map(async (t) => {
        const live = stand.live();
        const instance = live[i % Math.max(1, live.length)];
        if (!instance) return;
        try {
          const response = await fetch(`${instance.url}/v1/approvals/${t.id}`, { headers: { authorization: `Bearer ${agent}` }, signal: AbortSignal.timeout(10_000) });
          if (!response.ok) return;
          const approval = (await response.json()) as { status: string; ticket: unknown; batchId: string | null };
          if (approval.ticket || approval.batchId) seen.ticket.add(t.id);
          if (approval.status !== 'pending') {
            seen.final.set(t.id, approval.status);
            seen.ticket.add(t.id);
          }
        } catch {
          // asked again next round
        }
      }),
    );
  }
}

/** Everything acknowledged before `before` has its ticket, and everything decided before it has reached its callback. */
function caughtUp(tracked: Map<string, Tracked>, seen: Seen, stand: SoakStand, before: number) {
  const callbacks = indexCallbacks(stand.receiver.received).byApproval;
  for (const t of tracked.values()) {
    if (t.ackAt < before && !seen.ticket.has(t.id)) return false;
    if (t.decidedAt !== undefined && t.decidedAt < before && !callbacks.has(t.id)) return false;
  }
  return true;
}

async function runningJobs(databaseUrl: string | undefined): Promise<number | undefined> {
  if (!databaseUrl) return undefined;
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: databaseUrl });
  try {
    await client.connect();
    // Due jobs are found by a wake-up in the process that sent them or by the idle poll (60 s):
    // a due job older than that is one nobody will run; an active one may be a killed instance's.
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM pgboss.job WHERE (state IN ('created', 'retry') AND start_after <= now() - interval '75 seconds') OR state = 'active'`);
    return Number(rows[0]!.n);
  } catch {
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function soak(databaseUrl: string | undefined) {
  const stand = await startSoakStand({ instances, databaseUrl });
  try {
    // Schema, projects and keys from the CLI before any server, as an operator would.
    await stand.cli(['migrate']).catch(() => undefined);
    const mapping = path.join(stand.cwd, 'projects.json');
    await fs.writeFile(mapping, JSON.stringify({ projects: PROJECTS({ owner: stand.github.owner, repo: stand.github.repo }) }));
    for (const instance of stand.instances) await stand.start(instance);
    await stand.cli(['projects', 'apply', mapping]);
    const agent = (JSON.parse(await stand.cli(['keys', 'create', '--name', 'soak-agent', '--scopes', 'intake,read', '--callback-hosts', '127.0.0.1', '--json'])) as { key: string }).key;
    const reviewers: Record<string, string> = {};
    for (const name of ['alice', 'bob']) reviewers[name] = (JSON.parse(await stand.cli(['keys', 'create', '--name', name, '--scopes', 'review', '--reviewer', name, '--json'])) as { key: string }).key;
    const keys: Keys = { agent, reviewers };

    const tracked = new Map<string, Tracked>();
    const seen: Seen = { ticket: new Set(), final: new Map() };
    log(`${instances} instance(s) on ${databaseUrl ? 'PostgreSQL' : 'PGlite'}, ${rate}/s for ${seconds}s, faults: ${faults.join(', ') || 'none'}`);
    const began = Date.now();
    const agents = startAgents(stand, keys, rate, tracked, mix);
    const deciders = startDeciders(stand, keys, tracked);

    // Faults spread over the run, each in its own slot, the first after a quiet start.
    const windows: FaultWindow[] = [];
    const recoveries: Promise<void>[] = [];
    const slot = (seconds * 1000) / (faults.length + 1);
    const windowMs = Math.min(15_000, slot / 2);
    for (const [i, fault] of faults.entries()) {
      await sleep(Math.max(0, began + slot * (i + 0.5) - Date.now()));
      log(`fault ${fault} …`);
      const window = await runFault(stand, fault as Fault, windowMs);
      windows.push(window);
      log(`fault ${fault} over after ${((window.end - window.start) / 1000).toFixed(1)}s${window.detail ? ` (${window.detail})` : ''}`);
      recoveries.push(
        (async () => {
          const deadline = window.end + 180_000;
          while (Date.now() < deadline) {
            await refresh(stand, agent, [...tracked.values()].filter((t) => t.ackAt < window.end), seen);
            if (caughtUp(tracked, seen, stand, window.end)) {
              window.recoveredMs = Date.now() - window.end;
              return;
            }
            await sleep(500);
          }
          window.recoveredMs = null;
        })(),
      );
    }
    await sleep(Math.max(0, began + seconds * 1000 - Date.now()));
    await agents.stop();
    log(`intake stopped: ${tracked.size} acknowledged, ${agents.unacknowledged} never acknowledged; settling …`);

    // Settle: every decision made, every ticket open, every decided approval called back, no job that could run.
    const settleStart = Date.now();
    let settled = false;
    while (Date.now() - settleStart < settleSeconds * 1000) {
      await refresh(stand, agent, [...tracked.values()], seen, 400);
      const decidersDone = [...tracked.values()].every((t) => !t.decide || t.decidedAt !== undefined || seen.final.has(t.id));
      const escalationsDone = [...tracked.values()].every((t) => t.kind !== 'escalate' || seen.final.has(t.id));
      const callbacks = indexCallbacks(stand.receiver.received).byApproval;
      const calledBack = [...seen.final.keys()].every((id) => seen.final.get(id) === 'cancelled' || callbacks.has(id));
      const ticketed = [...tracked.values()].every((t) => seen.ticket.has(t.id));
      const jobs = await runningJobs(databaseUrl);
      if (Math.floor((Date.now() - settleStart) / 1000) % 15 === 0) {
        log(`settling: decisions ${decidersDone}, escalations ${escalationsDone}, callbacks ${calledBack}, tickets ${ticketed}, redeliveries ${deciders.undelivered}, runnable jobs ${jobs ?? 'n/a'}`);
      }
      if (decidersDone && escalationsDone && calledBack && ticketed && deciders.undelivered === 0 && (jobs === undefined || jobs === 0)) {
        settled = true;
        break;
      }
      await sleep(1000);
    }
    const settleMs = Date.now() - settleStart;
    log(settled ? `settled in ${(settleMs / 1000).toFixed(1)}s` : `did not settle in ${settleSeconds}s; checking what is there`);
    await deciders.stop();
    await Promise.race([Promise.all(recoveries), sleep(1000)]);
    await stand.stopInstances();

    const target: DatabaseTarget = databaseUrl ? { kind: 'postgres', url: databaseUrl } : { kind: 'pglite', dataDir: stand.env.COUNTERSIGN_DATA_DIR! };
    const database = await openDatabase(target, createLogger('silent'));
    const callbacks = indexCallbacks(stand.receiver.received);
    let outcome;
    try {
      outcome = await checkOutcome(database, tracked, callbacks, stand.github, stand.jira, deciders.batchLabels);
    } finally {
      await database.close();
    }
    const verify = await stand.cli(['audit', 'verify']).then(
      (out) => ({ ok: true, out }),
      (error: Error) => ({ ok: false, out: error.message }),
    );

    const during = (at: number) => windows.some((w) => at >= w.start && at <= w.end + 2000);
    const ms = (list: number[]) => {
      const sorted = [...list].sort((a, b) => a - b);
      return { n: sorted.length, p50ms: percentile(sorted, 50), p99ms: percentile(sorted, 99) };
    };
    const callbackLatency = [...tracked.values()]
      .filter((t) => t.decidedAt !== undefined && t.kind !== 'batch' && callbacks.byApproval.has(t.id))
      .map((t) => Math.max(0, callbacks.byApproval.get(t.id)!.firstAt - t.decidedAt!));
    const logDir = path.join(os.tmpdir(), `countersign-soak-logs-${path.basename(values.out, '.json')}`);
    const failures = [...outcome.failures, ...(verify.ok ? [] : ['auditVerified: false']), ...(settled ? [] : ['settled: false'])];
    if (failures.length > 0) keepDatabase = true;
    const result = {
      at: new Date().toISOString(),
      command: `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim(),
      database: databaseUrl ? 'postgres' : 'pglite',
      instances,
      seconds,
      rate,
      faults,
      sent: agents.sent,
      unacknowledged: agents.unacknowledged,
      ...outcome,
      auditVerified: verify.ok,
      intake: { duringFaults: ms(agents.samples.filter((s) => during(s.at)).map((s) => s.ms)), outsideFaults: ms(agents.samples.filter((s) => !during(s.at)).map((s) => s.ms)) },
      decisionToCallback: { ...ms(callbackLatency), maxMs: Math.max(0, ...callbackLatency) },
      recovery: windows.map((w) => ({ fault: w.fault, ...(w.detail ? { detail: w.detail } : {}), windowMs: w.end - w.start, recoveredMs: w.recoveredMs ?? null })),
      settleMs,
      unexpectedExits: stand.unexpectedExits,
      providerRequestsFaulted: { github: stand.githubProxy.faulted, jira: stand.jiraProxy.faulted },
      failures,
      logs: logDir,
      kept: keepDatabase ? { databaseUrl: databaseUrl ?? null, ...(privatePostgres ? { startServer: privatePostgres.startCommand } : {}) } : null,
    };
    // The servers' own logs (level warn and up), kept next to the result for a failed run's post-mortem.
    await fs.rm(logDir, { recursive: true, force: true });
    await fs.mkdir(logDir, { recursive: true });
    for (const instance of stand.instances) await fs.writeFile(path.join(logDir, `instance-${instance.index}.log`), instance.logs.join('\n'));
    const issues = [...stand.github.issues.values()].map((i) => ({ number: i.number, title: i.title, ids: [...new Set(`${i.title}\n${i.body}`.match(/(apr|bat)_[0-9A-Za-z]+/g) ?? [])] }));
    await fs.writeFile(path.join(logDir, 'github-issues.json'), JSON.stringify(issues, null, 1));
    return result;
  } finally {
    await stand.close();
  }
}

/** Where the kept database is, for the last line. */
function kept(where: { databaseUrl: string | null; startServer?: string } | null): string {
  if (!where) return '';
  return `; database kept: ${where.databaseUrl ?? 'PGlite (removed with the stand)'}${where.startServer ? `; start its server with ${where.startServer}` : ''}`;
}

let result;
try {
  result = embedded ? await soak(undefined) : await withFreshDatabase(adminUrl, `countersign_soak_${process.pid}`, soak, () => keepDatabase);
} finally {
  await privatePostgres?.stop({ keep: keepDatabase });
}
await fs.mkdir(path.dirname(values.out), { recursive: true });
await fs.writeFile(values.out, `${JSON.stringify(result, null, 2)}\n`);
const { examples: _examples, jobsPendingAtEnd, ...summary } = result;
process.stdout.write(`${JSON.stringify({ ...summary, jobsPendingAtEnd }, null, 2)}\n`);
if (result.failures.length > 0) {
  log(`FAILED: ${result.failures.join('; ')} (details in ${values.out}; logs in ${result.logs}${kept(result.kept)})`);
  process.exit(1);
}
log(`passed: nothing lost, nothing twice (${values.out}${kept(result.kept)})`);
process.exit(0);
