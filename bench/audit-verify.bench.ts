/**
 * `audit verify` throughput on a large log, next to node:crypto's raw Ed25519 verify rate
 * measured in the same run (the target: at least 0.5× of raw, using both cores).
 *
 * The log is built by a bulk path — chained and signed in memory, inserted in batches of
 * 4,000 rows, a checkpoint every 10,000 — not through `append`, which would take an hour
 * for a million records. Runs on PostgreSQL when BENCH_DATABASE_URL (or TEST_DATABASE_URL)
 * names a server (in a fresh database, dropped after), else on in-memory PGlite.
 * AUDIT_BENCH_RECORDS overrides the size (default 1,000,000).
 */
import { generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import os from 'node:os';
import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import { recordHash, type AuditRecord } from '../src/audit/audit-record.ts';
import { signCheckpoint } from '../src/audit/checkpoint-note.ts';
import { createCompactRange, leafHash } from '../src/audit/merkle-tree.ts';
import { readAuditSnapshot } from '../src/audit/read-audit-snapshot.ts';
import { createWorkerSignatureChecker } from '../src/audit/signature-checker.ts';
import { signerFromPem } from '../src/primitives/signing-key.ts';
import { verifyAuditLog } from '../src/audit/verify-audit-log.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { openDatabase, type DatabaseTarget } from '../src/db/open-database.ts';
import type { Database } from '../src/db/schema.ts';
import { createLogger } from '../src/config/logger.ts';

const BATCH = 4000;
const CHECKPOINT_EVERY = 10_000;

export async function run(): Promise<Record<string, unknown>> {
  const records = Number(process.env.AUDIT_BENCH_RECORDS ?? 1_000_000);
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL;
  const { target, dispose } = adminUrl ? await freshPostgres(adminUrl) : { target: { kind: 'pglite', dataDir: 'memory' } as DatabaseTarget, dispose: async () => undefined };
  const database = await openDatabase(target, createLogger('silent'));
  try {
    await migrateToLatest(database.db as unknown as Kysely<unknown>);
    const buildStarted = performance.now();
    await buildLog(database.db, records);
    const buildSeconds = (performance.now() - buildStarted) / 1000;

    const raw = rawVerifyRate();
    const threads = Math.max(1, Math.min(4, os.availableParallelism()));
    const verifyStarted = performance.now();
    const report = await verifyAuditLog(await readAuditSnapshot(database.db), { signatureChecker: (keys) => createWorkerSignatureChecker(keys, threads) });
    const verifySeconds = (performance.now() - verifyStarted) / 1000;
    if (!report.ok) throw new Error(`the benchmark log does not verify: seq ${report.seq}: ${report.reason}`);
    const verifyPerSecond = records / verifySeconds;
    return {
      database: database.kind,
      records,
      buildSeconds: round(buildSeconds),
      verifySeconds: round(verifySeconds),
      verifyRecordsPerSecond: Math.round(verifyPerSecond),
      rawEd25519VerifyPerSecondOneCore: Math.round(raw),
      ratioToRawOneCore: round(verifyPerSecond / raw),
      ratioToRawAllCores: round(verifyPerSecond / (raw * os.availableParallelism())),
      signatureThreads: threads,
      cores: os.availableParallelism(),
    };
  } finally {
    await database.close();
    await dispose();
  }
}

/** node:crypto's Ed25519 verify on one thread, on 32-byte messages like the record hashes. */
function rawVerifyRate(): number {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signer = signerFromPem(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
  const items = Array.from({ length: 256 }, () => {
    const message = randomBytes(32);
    return { message, signature: signer.sign(message) };
  });
  const started = performance.now();
  let count = 0;
  while (performance.now() - started < 3000) {
    for (const { message, signature } of items) if (verify(null, message, publicKey, signature)) count += 1;
  }
  return count / ((performance.now() - started) / 1000);
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

async function freshPostgres(adminUrl: string): Promise<{ target: DatabaseTarget; dispose: () => Promise<void> }> {
  const name = `countersign_bench_${randomBytes(4).toString('hex')}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return { target: { kind: 'postgres', url: url.toString() }, dispose: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

const round = (n: number) => Math.round(n * 100) / 100;

if (import.meta.url === `file://${process.argv[1]}`) console.log(await run());
