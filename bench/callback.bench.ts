import fs from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { createCountersignClient } from '../src/client/index.ts';
import type { DatabaseTarget } from '../src/db/open-database.ts';
import type { FloorRequest, FloorSample } from './callback/floor-thread.ts';
import { loopbackPost } from './callback/loopback-post.ts';
import type { ReceiverMessage } from './callback/receiver-thread.ts';
import { withFreshDatabase } from './bench-postgres.ts';
import { percentile, prepareAgent, startBenchServer } from './bench-server.ts';

const APPROVALS = Number(process.env.BENCH_CALLBACK_APPROVALS ?? 1000);
/**
 * Approvals decided before the measured ones, each with its floor sample, and left out of both:
 * a server's first requests run code not yet compiled and statements not yet prepared, once per
 * process, which is not what an agent waiting on a running server meets.
 */
const WARMUP = Number(process.env.BENCH_CALLBACK_WARMUP ?? 50);
const LONG_POLLS = Number(process.env.BENCH_CALLBACK_LONG_POLLS ?? 200);
/** The targets (21): p50 within 3× the floor measured in the same run, p99 within 15 ms. */
const TARGET_RATIO_P50 = 3;
const TARGET_P99_MS = 15;
/** Two ports and a database of this run's own, so two runs at once (two worktrees) do not drop each other's database. */
const PORT = Number(process.env.BENCH_CALLBACK_PORT ?? 18_183);

/** Wall-clock milliseconds with sub-millisecond precision: comparable with the server's step marks (src/callbacks/step-timings.ts). */
const now = () => performance.timeOrigin + performance.now();
const round = (n: number) => Number(n.toFixed(2));

function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1) ?? Number.NaN) };
}

/** The callback receiver, on a thread of its own (callback/receiver-thread.ts). */
async function startReceiver() {
  const arrivals = new Map<string, number>();
  const waiting = new Map<string, () => void>();
  let lastBody = '';
  const worker = new Worker(new URL('./callback/receiver-thread.ts', import.meta.url));
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.on('message', (message: ReceiverMessage) => {
      if (message.type === 'listening') return resolve(message.port);
      lastBody = message.body;
      arrivals.set(message.id, message.at);
      waiting.get(message.id)?.();
    });
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    callbackUrl: `${base}/hook`,
    arrivals,
    arrived: (id: string) => new Promise<void>((resolve) => waiting.set(id, resolve)).finally(() => waiting.delete(id)),
    lastBody: () => lastBody,
    async close() {
      worker.postMessage('close');
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

/** The floor (callback/floor-thread.ts), one sample at a time, on a thread of its own. */
async function startFloor(target: DatabaseTarget) {
  const worker = new Worker(new URL('./callback/floor-thread.ts', import.meta.url), { workerData: target });
  // One listener for the thread's death, failing whichever answer is awaited (one per sample would pile up).
  let failAnswer: (error: Error) => void = () => undefined;
  worker.on('error', (error) => failAnswer(error));
  const next = () =>
    new Promise<unknown>((resolve, reject) => {
      failAnswer = reject;
      worker.once('message', resolve);
    });
  await next(); // ready
  return {
    async sample(body: string): Promise<FloorSample> {
      worker.postMessage({ type: 'sample', body } satisfies FloorRequest);
      const answer = (await next()) as FloorSample | { error: string };
      if ('error' in answer) throw new Error(`floor sample failed: ${answer.error}`);
      return answer;
    },
    async close() {
      worker.postMessage({ type: 'close' } satisfies FloorRequest);
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

/**
 * The gaps between one approval's consecutive steps, in the order they happened, as marked by
 * the server (COUNTERSIGN_STEP_TIMINGS_FILE, src/callbacks/step-timings.ts) and by the bench
 * (`decision.sent`, `callback.received`). Marks more than 10 s after the decision are the
 * backup job's, which finds the callback delivered: they are left out.
 */
function stepBreakdown(marks: Record<string, Record<string, number>>) {
  const gaps = new Map<string, number[]>();
  for (const approval of Object.values(marks)) {
    const sent = approval['decision.sent'];
    if (sent === undefined) continue;
    const ordered = Object.entries(approval).filter(([, at]) => at - sent < 10_000).sort((a, b) => a[1] - b[1]);
    for (let i = 1; i < ordered.length; i++) {
      const gap = `${ordered[i - 1]![0]} → ${ordered[i]![0]}`;
      gaps.set(gap, [...(gaps.get(gap) ?? []), ordered[i]![1] - ordered[i - 1]![1]]);
    }
  }
  // Only the usual path: a gap seen in fewer than a tenth of the approvals is an outlier's order.
  const common = [...gaps].filter(([, values]) => values.length * 10 >= Object.keys(marks).length);
  return Object.fromEntries(common.map(([gap, values]) => [gap, (({ n, p50, p99 }) => ({ n, p50, p99 }))(summary(values))]));
}

async function measure(env: Record<string, string>, port: number, floorTarget: DatabaseTarget) {
  const receiver = await startReceiver();
  const stepsFile = path.join(os.tmpdir(), `countersign-bench-steps-${process.pid}-${port}.json`);
  const nodeFlags = process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [];
  const server = await startBenchServer({ ...env, COUNTERSIGN_STEP_TIMINGS_FILE: stepsFile }, port, undefined, { nodeFlags });
  const floor = await startFloor(floorTarget);
  const sent: Record<string, number> = {};
  try {
    const agent = await prepareAgent(server, { callbackHosts: '127.0.0.1' });
    const client = createCountersignClient({ baseUrl: server.url, apiKey: agent.key });
    // The reviewer's client: the floor's (loopback-post.ts), on a connection of its own kept alive.
    const reviewer = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const decide = (id: string) => loopbackPost(reviewer, `${server.url}/v1/approvals/${id}/decision`, '{"outcome":"approve"}', { authorization: `Bearer ${agent.reviewerKey}` });
    const decided = (status: number) => {
      if (status < 200 || status >= 300) throw new Error(`decision failed: ${status}`);
    };

    // Interleaved, one floor sample after each decision: both see the same machine.
    const callbackMs: number[] = [];
    const floorSamples: FloorSample[] = [];
    for (let i = -WARMUP; i < APPROVALS; i++) {
      const { id } = await client.requestApproval({ project: 'bench', action: 'send_email', summary: `bench ${i}`, payload: { i }, callbackUrl: receiver.callbackUrl });
      const arrived = receiver.arrived(id);
      const decidedAt = now();
      decided(await decide(id));
      await arrived;
      const sample = await floor.sample(receiver.lastBody());
      if (i < 0) continue;
      sent[id] = decidedAt;
      callbackMs.push(receiver.arrivals.get(id)! - decidedAt);
      floorSamples.push(sample);
    }

    const longPollMs: number[] = [];
    for (let i = 0; i < LONG_POLLS; i++) {
      const { id } = await client.requestApproval({ project: 'bench', action: 'send_email', summary: `poll ${i}`, payload: { i } });
      const answered = client.waitForDecision(id, { timeoutMs: 30_000 }).then(() => performance.now());
      await new Promise((resolve) => setTimeout(resolve, 20)); // the poll is parked on the server
      const status = await decide(id);
      const decidedAt = performance.now();
      decided(status);
      longPollMs.push(Math.max(0, (await answered) - decidedAt));
    }
    reviewer.destroy();

    const floorSummary = {
      commit: summary(floorSamples.map((s) => s.commit)),
      sign: summary(floorSamples.map((s) => s.sign)),
      post: summary(floorSamples.map((s) => s.post)),
      sum: summary(floorSamples.map((s) => s.sum)),
    };
    const floorP50 = floorSummary.sum.p50;
    const withRatio = (values: number[]) => {
      const s = summary(values);
      return { ...s, p50RatioToFloor: round(s.p50 / floorP50), p99RatioToFloor: round(s.p99 / floorP50) };
    };
    const callback = withRatio(callbackMs);
    const longPoll = withRatio(longPollMs);
    return {
      floorMs: floorSummary,
      decisionToCallbackMs: callback,
      decisionToLongPollAnswerMs: longPoll,
      targets: {
        callbackP50WithinRatio: callback.p50RatioToFloor <= TARGET_RATIO_P50,
        callbackP99WithinMs: callback.p99 <= TARGET_P99_MS,
        longPollP50WithinRatio: longPoll.p50RatioToFloor <= TARGET_RATIO_P50,
        longPollP99WithinMs: longPoll.p99 <= TARGET_P99_MS,
      },
      stepsMs: await readSteps(stepsFile, sent, receiver.arrivals, () => server.stop()),
    };
  } finally {
    await server.stop();
    await floor.close();
    await receiver.close();
    await fs.rm(stepsFile, { force: true });
  }
}

/** Stops the server (it writes its marks on exit) and joins them with the bench's own. */
async function readSteps(file: string, sent: Record<string, number>, arrivals: Map<string, number>, stop: () => Promise<void>) {
  await stop();
  const marks = JSON.parse(await fs.readFile(file, 'utf8').catch(() => '{}')) as Record<string, Record<string, number>>;
  for (const [id, at] of Object.entries(sent)) {
    const approval = marks[id];
    if (!approval) continue;
    approval['decision.sent'] = at;
    const received = arrivals.get(id);
    if (received !== undefined) approval['callback.received'] = received;
  }
  for (const id of Object.keys(marks)) if (!(id in sent)) delete marks[id];
  return stepBreakdown(marks);
}

/**
 * Decision → callback received and decision → long poll answered on loopback, each with its
 * ratio to the floor measured in the same run on the same database kind (issue 21: p50 ≤ 3×
 * the floor, p99 ≤ 15 ms), on the embedded PGlite and on PostgreSQL, with where the time goes
 * step by step. BENCH_NODE_FLAGS="--cpu-prof --cpu-prof-dir=…" profiles the server.
 */
export async function run(): Promise<Record<string, unknown>> {
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const floorDir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-floor-'));
  const results: Record<string, unknown> = { approvals: APPROVALS, warmup: WARMUP, longPolls: LONG_POLLS, targets: { p50RatioToFloor: TARGET_RATIO_P50, p99Ms: TARGET_P99_MS } };
  try {
    results.pglite = await measure({}, PORT, { kind: 'pglite', dataDir: floorDir });
  } finally {
    await fs.rm(floorDir, { recursive: true, force: true });
  }
  if (process.env.BENCH_CALLBACK_PGLITE_ONLY) return results;
  let reachable = true;
  try {
    await withFreshDatabase(adminUrl, 'countersign_bench_callback_probe', async () => undefined);
  } catch (error) {
    reachable = false;
    process.stderr.write(`callback bench: PostgreSQL NOT reachable at ${adminUrl}, its run is skipped: ${(error as Error).message}\n`);
    results.postgres = { skipped: `PostgreSQL not reachable at ${adminUrl}: ${(error as Error).message}` };
  }
  if (reachable) {
    results.postgres = await withFreshDatabase(adminUrl, `countersign_bench_callback_${process.pid}`, (url) => measure({ DATABASE_URL: url }, PORT + 1, { kind: 'postgres', url }));
  }
  return results;
}
