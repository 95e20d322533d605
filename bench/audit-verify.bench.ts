/**
 * `audit verify` throughput on large logs, against the raw Ed25519 verify rate (of the library it checks with, libsodium, and node:crypto beside it) of
 * all cores measured in the same run (the target: at least 0.9× of it), with the
 * verifying process's peak RSS at two log sizes (memory must not grow with the log).
 *
 * Each verify runs in a child process of its own, so its `maxRSS` is the verify's alone and
 * no earlier build or run warms it. The raw rate is one worker per core, all at once, each
 * verifying 32-byte messages (what a record's signature covers), taken before and after
 * every verify: the machine is shared, so the ratio uses the raw runs beside it and the
 * spread of both is reported. Beside it `cpuRatio`: a signature's CPU time in the raw runs over
 * the verifying process's CPU time per record, all threads (the database server's excluded),
 * which others' load on the machine moves far less than the wall clock, and `cpuRatioWithDatabase`
 * counting the PostgreSQL backends' CPU as well (it runs on the same cores), with the verify's CPU split
 * by thread (main, signature checks, the runtime's helpers: where the overhead is). Last, the CLI (`countersign audit verify --json`) is timed
 * once on the largest log, as users run it, wall clock including start-up (AUDIT_BENCH_CLI=0 skips it).
 *
 * The logs are built by a bulk path — chained and signed in memory, inserted in batches of
 * 4,000 rows, a checkpoint every 10,000 — not through `append`, which would take an hour for
 * a million records. PGlite always (a data directory on disk, as the CLI opens it);
 * PostgreSQL too when BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server, in a fresh
 * database; AUDIT_BENCH_DATABASES=postgres (or pglite) runs one only. AUDIT_BENCH_SIZES overrides the sizes (default 100000,1000000),
 * AUDIT_BENCH_REPEATS the verifies per size (default 2). AUDIT_BENCH_REUSE=1 keeps the built
 * logs (PGlite in $TMPDIR/countersign-bench-verify-N, PostgreSQL database
 * countersign_bench_verify_N) and reuses them on the next run: a million-record log takes
 * ~100 s to build.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { recordHash, type AuditRecord } from '../src/audit/audit-record.ts';
import { signCheckpoint } from '../src/audit/checkpoint-note.ts';
import { createCompactRange, leafHash } from '../src/audit/merkle-tree.ts';
import { readAuditSnapshot } from '../src/audit/read-audit-snapshot.ts';
import { SODIUM_PATH, signatureLibrary, type SignatureLibrary } from '../src/audit/signature-checker.ts';
import { verifyAuditLogOnAllCores } from '../src/audit/verify-audit-log.ts';
import { signerFromPem } from '../src/primitives/signing-key.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { openDatabase, type DatabaseTarget } from '../src/db/open-database.ts';
import type { Database } from '../src/db/schema.ts';
import { createLogger } from '../src/config/logger.ts';
import { cpuPerRequest, cpuSnapshot, threadCpuMs } from './process-cpu.ts';

const BATCH = 4000;
const CHECKPOINT_EVERY = 10_000;
const RAW_SECONDS = 3;
const HERE = fileURLToPath(import.meta.url);
const REPO = path.resolve(path.dirname(HERE), '..');

interface VerifyRun {
  seconds: number;
  recordsPerSecond: number;
  maxRssMB: number;
  /** CPU time of the whole verifying process (all threads) and of its main thread, per record. */
  cpuMicrosPerRecord: number;
  mainThreadCpuMicrosPerRecord: number;
  /** The runtime's helper threads (V8's collector and compiler helpers), and the signature threads (the rest of the process). */
  runtimeThreadsCpuMicrosPerRecord: number;
  signatureThreadsCpuMicrosPerRecord: number;
  /** CPU time of the PostgreSQL backends serving it, per record (PostgreSQL only). */
  databaseCpuMicrosPerRecord?: number;
}

interface RawRun {
  perSecond: number;
  /** CPU time per signature check, on the checking threads' own clocks: what a record's signature costs wherever it runs. */
  cpuMicrosPerVerify: number;
}

export async function run(): Promise<Record<string, unknown>> {
  const sizes = (process.env.AUDIT_BENCH_SIZES ?? '100000,1000000').split(',').map(Number);
  const repeats = Number(process.env.AUDIT_BENCH_REPEATS ?? 2);
  const reuse = process.env.AUDIT_BENCH_REUSE === '1';
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  const result: Record<string, unknown> = { cores: os.availableParallelism(), sizes, repeats };
  const kinds = (process.env.AUDIT_BENCH_DATABASES ?? 'postgres,pglite').split(',').filter((kind): kind is 'postgres' | 'pglite' => (kind === 'postgres' && adminUrl !== undefined) || kind === 'pglite');
  for (const kind of kinds) {
    const perSize: Record<string, unknown> = {};
    for (const size of sizes) {
      const log = await prepareLog(kind, size, reuse, adminUrl);
      try {
        // The raw rate of the library the verify checks with, and node:crypto's beside it, before and after every verify.
        const library = signatureLibrary();
        const rawPair = async () => ({ used: await rawVerifyRateAllCores(library), nodeCrypto: await rawVerifyRateAllCores('node:crypto') });
        const raws = [await rawPair()];
        const runs: VerifyRun[] = [];
        for (let i = 0; i < repeats; i += 1) {
          runs.push(await verifyInChild(log.target, size));
          raws.push(await rawPair());
        }
        // Each verify against the mean of the raw runs just before and after it.
        const ratiosTo = (which: 'used' | 'nodeCrypto') => runs.map((r, i) => round(r.recordsPerSecond / ((raws[i]![which].perSecond + raws[i + 1]![which].perSecond) / 2)));
        const ratios = ratiosTo('used');
        // The same ratio by CPU time, which other work on a shared machine disturbs far less than the wall clock:
        // a signature's CPU cost (raw) over all the CPU the verify spends per record (database server excluded).
        const rawCpu = raws.reduce((sum, r) => sum + r.used.cpuMicrosPerVerify, 0) / raws.length;
        perSize[size] = {
          buildSeconds: log.buildSeconds,
          signatureLibrary: library,
          verifySeconds: runs.map((r) => r.seconds),
          verifyRecordsPerSecond: runs.map((r) => r.recordsPerSecond),
          rawEd25519VerifyPerSecondAllCores: raws.map((r) => Math.round(r.used.perSecond)),
          ratioToRawAllCores: ratios,
          ratioBest: Math.max(...ratios),
          // Against node:crypto's raw rate, what the target was first measured against.
          nodeCrypto: {
            rawEd25519VerifyPerSecondAllCores: raws.map((r) => Math.round(r.nodeCrypto.perSecond)),
            rawCpuMicrosPerVerify: round(raws.reduce((sum, r) => sum + r.nodeCrypto.cpuMicrosPerVerify, 0) / raws.length),
            ratioToRawAllCores: ratiosTo('nodeCrypto'),
          },
          verifyMaxRssMB: runs.map((r) => r.maxRssMB),
          rawCpuMicrosPerVerify: round(rawCpu),
          verifyCpuMicrosPerRecord: runs.map((r) => r.cpuMicrosPerRecord),
          verifyMainThreadCpuMicrosPerRecord: runs.map((r) => r.mainThreadCpuMicrosPerRecord),
          // Where the CPU beyond the signatures goes: the signature threads over the raw cost are the checks' own overhead.
          verifySignatureThreadsCpuMicrosPerRecord: runs.map((r) => r.signatureThreadsCpuMicrosPerRecord),
          verifyRuntimeThreadsCpuMicrosPerRecord: runs.map((r) => r.runtimeThreadsCpuMicrosPerRecord),
          cpuRatio: runs.map((r) => round(rawCpu / r.cpuMicrosPerRecord)),
          // The same with the database server's CPU counted too: on a machine of its own it takes from the same cores.
          ...(kind === 'postgres'
            ? { verifyDatabaseCpuMicrosPerRecord: runs.map((r) => r.databaseCpuMicrosPerRecord ?? null), cpuRatioWithDatabase: runs.map((r) => round(rawCpu / (r.cpuMicrosPerRecord + (r.databaseCpuMicrosPerRecord ?? 0)))) }
            : {}),
          ...(size === Math.max(...sizes) && process.env.AUDIT_BENCH_CLI !== '0' ? { cli: await cliVerify(log.target, size) } : {}),
        };
      } finally {
        await log.dispose();
      }
      process.stderr.write(`audit-verify ${kind} ${size}: ${JSON.stringify(perSize[size])}\n`);
    }
    result[kind] = perSize;
  }
  return result;
}

/** A built log of `size` records: made now, or the one kept by an earlier run with AUDIT_BENCH_REUSE=1. */
async function prepareLog(kind: 'pglite' | 'postgres', size: number, reuse: boolean, adminUrl: string | undefined): Promise<{ target: DatabaseTarget; buildSeconds: number | null; dispose: () => Promise<void> }> {
  let target: DatabaseTarget;
  let drop: () => Promise<void>;
  if (kind === 'postgres') {
    const name = reuse ? `countersign_bench_verify_${size}` : `countersign_bench_verify_${process.pid}_${size}`;
    const url = new URL(adminUrl!);
    url.pathname = `/${name}`;
    target = { kind: 'postgres', url: url.toString() };
    if (reuse && ((await builtSize(target)) ?? 0) >= size) return { target, buildSeconds: null, dispose: async () => undefined };
    await admin(adminUrl!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin(adminUrl!, `CREATE DATABASE ${name}`);
    drop = () => admin(adminUrl!, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  } else {
    const dataDir = reuse ? path.join(os.tmpdir(), `countersign-bench-verify-${size}`) : await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-bench-verify-'));
    target = { kind: 'pglite', dataDir };
    if (reuse && ((await builtSize(target)) ?? 0) >= size) return { target, buildSeconds: null, dispose: async () => undefined };
    await fs.rm(dataDir, { recursive: true, force: true });
    drop = () => fs.rm(dataDir, { recursive: true, force: true });
  }
  const database = await openDatabase(target, createLogger('silent'));
  const started = performance.now();
  try {
    await migrateToLatest(database.db as unknown as Kysely<unknown>);
    await buildLog(database.db, size);
    if (kind === 'postgres') await sql`vacuum analyze audit_records`.execute(database.db);
  } finally {
    await database.close();
  }
  return { target, buildSeconds: round((performance.now() - started) / 1000), dispose: reuse ? async () => undefined : drop };
}

/** The kept log's size, or undefined when there is none (or it is not one of ours). */
async function builtSize(target: DatabaseTarget): Promise<number | undefined> {
  if (target.kind === 'pglite' && !(await fs.stat(path.join(target.dataDir, 'pgdata')).catch(() => undefined))) return undefined;
  try {
    const database = await openDatabase(target, createLogger('silent'));
    try {
      const { seq } = await database.db.selectFrom('audit_head').select('seq').executeTakeFirstOrThrow();
      return Number(seq);
    } finally {
      await database.close();
    }
  } catch {
    return undefined;
  }
}

async function admin(adminUrl: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/** One verify, as the CLI runs it, in a process of its own: its time (from the snapshot's first read) and its peak RSS. */
async function verifyInChild(target: DatabaseTarget, size: number): Promise<VerifyRun> {
  const out = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [...(process.env.AUDIT_BENCH_CHILD_FLAGS ?? '').split(' ').filter(Boolean), HERE, 'verify-child', JSON.stringify(target)], { maxBuffer: 1 << 20 }, (error, stdout, stderr) =>
      error ? reject(new Error(`verify child failed: ${error.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
  const { seconds, records, maxRssMB, cpuMicros, mainThreadCpuMicros, runtimeThreadsCpuMicros, databaseCpuMicros } = JSON.parse(out.trim().split('\n').at(-1)!) as {
    seconds: number;
    records: number;
    maxRssMB: number;
    cpuMicros: number;
    mainThreadCpuMicros: number;
    runtimeThreadsCpuMicros: number;
    databaseCpuMicros?: number;
  };
  // The CLI's services register their signing key in the log they open: a kept log grows by a record per CLI run.
  if (records < size) throw new Error(`verified ${records} records, expected ${size}`);
  return {
    seconds: round(seconds),
    recordsPerSecond: Math.round(records / seconds),
    maxRssMB,
    cpuMicrosPerRecord: round(cpuMicros / records),
    mainThreadCpuMicrosPerRecord: round(mainThreadCpuMicros / records),
    runtimeThreadsCpuMicrosPerRecord: round(runtimeThreadsCpuMicros / records),
    signatureThreadsCpuMicrosPerRecord: round((cpuMicros - mainThreadCpuMicros - runtimeThreadsCpuMicros) / records),
    ...(databaseCpuMicros === undefined ? {} : { databaseCpuMicrosPerRecord: round(databaseCpuMicros / records) }),
  };
}

async function verifyChild(target: DatabaseTarget): Promise<void> {
  const database = await openDatabase(target, createLogger('silent'));
  // PostgreSQL serves the pages in a process of its own, on the same cores as the checks: its CPU is measured too (read before the pool closes).
  const databaseName = target.kind === 'postgres' ? new URL(target.url).pathname.slice(1) : undefined;
  try {
    const databaseCpu = databaseName === undefined ? undefined : await cpuSnapshot([], databaseName);
    const started = performance.now();
    const cpu = process.cpuUsage();
    const mainThreadCpu = process.threadCpuUsage();
    const threadsBefore = threadCpuMs();
    const report = await verifyAuditLogOnAllCores(await readAuditSnapshot(database.db));
    const seconds = (performance.now() - started) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    const main = process.threadCpuUsage(mainThreadCpu);
    // The runtime's own threads (V8's collector helpers above all) are alive still; the signature threads have exited, and are what is left of the total.
    let runtimeThreadsMs = 0;
    for (const [tid, { name, ms }] of threadCpuMs()) if (name !== 'MainThread') runtimeThreadsMs += ms - (threadsBefore.get(tid)?.ms ?? 0);
    if (!report.ok) throw new Error(`the benchmark log does not verify: seq ${report.seq}: ${report.reason}`);
    const databaseCpuMicros = databaseCpu && databaseName !== undefined ? cpuPerRequest(databaseCpu, await cpuSnapshot([], databaseName), 1).databaseMs * 1000 : undefined;
    console.log(JSON.stringify({ seconds, records: report.records, maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024), cpuMicros: user + system, mainThreadCpuMicros: main.user + main.system, runtimeThreadsCpuMicros: runtimeThreadsMs * 1000, databaseCpuMicros }));
  } finally {
    await database.close();
  }
}

/** `countersign audit verify --json` against the log, wall clock from spawn to exit, and its peak RSS where GNU time is there to tell it. */
async function cliVerify(target: DatabaseTarget, size: number): Promise<{ seconds: number; recordsPerSecond: number; maxRssMB?: number }> {
  const env = { ...process.env, ...(target.kind === 'postgres' ? { DATABASE_URL: target.url } : { COUNTERSIGN_DATA_DIR: target.dataDir, DATABASE_URL: '' }), LOG_LEVEL: 'warn' };
  const gnuTime = await fs.access('/usr/bin/time').then(() => true, () => false);
  const command = [process.execPath, path.join(REPO, 'bin/countersign.js'), 'audit', 'verify', '--json'];
  const [file, ...args] = gnuTime ? ['/usr/bin/time', '-f', 'maxrss-kb %M', ...command] : command;
  const started = performance.now();
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(file!, args, { env, cwd: REPO, maxBuffer: 1 << 20 }, (error, stdout, stderr) => (error ? reject(new Error(`countersign audit verify failed: ${error.message}\n${stderr}`)) : resolve({ stdout, stderr }))),
  );
  const seconds = (performance.now() - started) / 1000;
  const report = JSON.parse(stdout) as { ok: boolean; records: number };
  if (!report.ok || report.records < size) throw new Error(`countersign audit verify: ${stdout}`);
  const rss = /maxrss-kb (\d+)/.exec(stderr);
  return { seconds: round(seconds), recordsPerSecond: Math.round(report.records / seconds), ...(rss ? { maxRssMB: Math.round(Number(rss[1]) / 1024) } : {}) };
}

/**
 * Raw Ed25519 checks over 32-byte messages on one worker per core at once, with `library`
 * (what the verify uses, and node:crypto beside it): signatures per second, all cores together.
 */
async function rawVerifyRateAllCores(library: SignatureLibrary): Promise<RawRun> {
  const source = `
const { parentPort, workerData } = require('node:worker_threads');
const { generateKeyPairSync, randomBytes, sign, verify } = require('node:crypto');
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const items = Array.from({ length: 256 }, () => { const message = randomBytes(32); return { message, signature: sign(null, message, privateKey) }; });
const sodium = workerData.library === 'libsodium' ? require(workerData.sodiumPath) : undefined;
const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url');
const check = sodium ? (message, signature) => sodium.crypto_sign_verify_detached(signature, message, raw) : (message, signature) => verify(null, message, publicKey, signature);
parentPort.postMessage('ready');
parentPort.once('message', (ms) => {
  const started = performance.now();
  const cpu = process.threadCpuUsage();
  let count = 0;
  while (performance.now() - started < ms) for (const { message, signature } of items) if (check(message, signature)) count += 1;
  const { user, system } = process.threadCpuUsage(cpu);
  parentPort.postMessage({ perSecond: count / ((performance.now() - started) / 1000), cpuMicrosPerVerify: (user + system) / count });
});`;
  const workerData = { library, sodiumPath: SODIUM_PATH };
  const workers = Array.from({ length: os.availableParallelism() }, () => new Worker(source, { eval: true, workerData }));
  try {
    await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
    const runs = await Promise.all(
      workers.map((w) => {
        const run = new Promise<RawRun>((resolve) => w.once('message', resolve));
        w.postMessage(RAW_SECONDS * 1000);
        return run;
      }),
    );
    return { perSecond: runs.reduce((sum, r) => sum + r.perSecond, 0), cpuMicrosPerVerify: runs.reduce((sum, r) => sum + r.cpuMicrosPerVerify, 0) / runs.length };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

async function buildLog(db: Kysely<Database>, count: number): Promise<void> {
  const signer = signerFromPem(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  const { origin } = await db.selectFrom('audit_head').select('origin').executeTakeFirstOrThrow();
  await db.insertInto('audit_signing_keys').values({ key_id: signer.keyId, public_key: signer.publicKeyPem }).execute();
  const range = createCompactRange();
  let prevHash = '0'.repeat(64);
  const start = Date.now() - count;
  for (let from = 1; from <= count; from += BATCH) {
    const batch: AuditRecord[] = [];
    for (let seq = from; seq < Math.min(from + BATCH, count + 1); seq += 1) {
      const body = {
        seq,
        time: new Date(start + seq).toISOString(),
        approvalId: `apr_bench${String(seq % 50_000).padStart(8, '0')}`,
        event: 'approval.requested',
        actor: { kind: 'agent' as const, id: 'key_bench', via: 'api' },
        data: { project: 'billing-bot', action: 'send_email', payloadHash: `sha256:${'ab'.repeat(32)}`, risk: 'medium', requestedBy: 'agent-7' },
        prevHash,
        keyId: signer.keyId,
      };
      const hash = recordHash(body);
      batch.push({ ...body, hash, signature: signer.sign(Buffer.from(hash, 'hex')).toString('base64') });
      prevHash = hash;
      range.append(leafHash(Buffer.from(hash, 'hex')));
    }
    await db
      .insertInto('audit_records')
      .values(batch.map((r) => ({ seq: r.seq, time: new Date(r.time), approval_id: r.approvalId, event: r.event, actor: JSON.stringify(r.actor), data: JSON.stringify(r.data), prev_hash: r.prevHash, hash: r.hash, signature: r.signature, key_id: r.keyId })))
      .execute();
    const size = batch.at(-1)!.seq;
    if (size % CHECKPOINT_EVERY === 0 || size === count) {
      await db
        .insertInto('audit_checkpoints')
        .values({ tree_size: size, root_hash: range.root().toString('hex'), note: signCheckpoint({ origin, size, root: range.root() }, signer), key_id: signer.keyId, compact_range: JSON.stringify(range.hashes().map((h) => h.toString('hex'))) })
        .execute();
    }
  }
  await sql`update audit_head set seq = ${count}, hash = ${prevHash}`.execute(db);
}

const round = (n: number) => Math.round(n * 100) / 100;

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.argv[2] === 'verify-child') await verifyChild(JSON.parse(process.argv[3]!) as DatabaseTarget);
  else console.log(JSON.stringify(await run(), null, 2));
}
