import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { AuditLogSnapshot, VerifyReport } from '../../audit/verify-audit-log.ts';
import { parseDuration } from '../../primitives/duration.ts';
import { badRequest, CountersignError, unprocessable } from '../../primitives/errors.ts';
import { print, type CliRuntime } from '../cli-runtime.ts';
import type { Config } from '../../config/config.ts';
import { registerAuditReviewCommands } from './audit-review-commands.ts';

/** Signature checks spread over the cores: they are most of verify's work. */
async function verifyInParallel(snapshot: AuditLogSnapshot, trustedKeys: string[] | undefined, checkpoint: string | undefined, witnessCheckpoints?: Array<{ name: string; note: string }>): Promise<VerifyReport> {
  const { verifyAuditLogOnAllCores } = await import('../../audit/verify-audit-log.ts');
  return verifyAuditLogOnAllCores(snapshot, {
    ...(trustedKeys ? { trustedKeys } : {}),
    ...(checkpoint !== undefined ? { checkpoint } : {}),
    ...(witnessCheckpoints ? { witnessCheckpoints } : {}),
  });
}

/** Every checkpoint the witnesses of `spec` hold (`--witness`, the AUDIT_WITNESS syntax); a witness that cannot be read fails the check. */
async function readWitnessCheckpoints(spec: string, github: Config['github'], slack?: Config['slack']): Promise<Array<{ name: string; note: string }>> {
  const [{ parseWitnessSpecs }, { openWitnessStores }, { createLogger }] = await Promise.all([import('../../config/witness-spec.ts'), import('../../witness/open-witness-stores.ts'), import('../../config/logger.ts')]);
  let specs;
  try {
    specs = parseWitnessSpecs(spec);
  } catch (error) {
    throw badRequest('invalid_witness', `--witness: ${(error as Error).message}`);
  }
  const held: Array<{ name: string; note: string }> = [];
  for (const store of await openWitnessStores(specs, github, createLogger('warn'), slack)) {
    const notes = await store.read().catch((error: Error) => {
      throw unprocessable('witness_unreadable', `--witness ${store.spec}: cannot read it (${(error as NodeJS.ErrnoException).code ?? error.message})`);
    });
    if (notes.length === 0) throw unprocessable('witness_empty', `--witness ${store.spec}: holds no checkpoint (is AUDIT_WITNESS set on the server, and has it run for AUDIT_WITNESS_INTERVAL or been stopped once?)`);
    held.push(...notes);
  }
  return held;
}

/** A file named on the command line that cannot be used: a failed check (exit 1, exit-codes.ts), as for every command. */
const unusableFile = (option: string, file: string, why: string) => unprocessable('unusable_file', `${option} ${file}: ${why}`);

async function readArgumentFile(runtime: CliRuntime, option: string, file: string): Promise<string> {
  return fs.readFile(path.resolve(runtime.cwd, file), 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw unusableFile(option, file, `cannot read it (${error.code ?? error.message})`);
  });
}

/** The export as a snapshot, or a failed report when the file is not one (exit 1: the check failed, the command line was fine). */
async function readExport(runtime: CliRuntime, file: string): Promise<{ snapshot: AuditLogSnapshot } | { failed: VerifyReport }> {
  const resolved = path.resolve(runtime.cwd, file);
  await fs.access(resolved).catch((error: NodeJS.ErrnoException) => {
    throw unusableFile('--file', file, `cannot read it (${error.code ?? error.message})`);
  });
  const { readAuditExport } = await import('../../audit/audit-export.ts');
  try {
    return { snapshot: await readAuditExport(resolved) };
  } catch (error) {
    return { failed: { ok: false, seq: 0, reason: (error as Error).message } };
  }
}

const PEM_PUBLIC_KEY = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

/** The public keys in the `--trusted-key` files (each may hold several PEM blocks), or undefined when none was given. */
async function readTrustedKeys(runtime: CliRuntime, files: string[]): Promise<string[] | undefined> {
  if (files.length === 0) return undefined;
  const { trustedKey } = await import('../../audit/verify-audit-log.ts');
  const keys: string[] = [];
  for (const file of files) {
    const text = await readArgumentFile(runtime, '--trusted-key', file);
    const found = text.match(PEM_PUBLIC_KEY) ?? [];
    if (found.length === 0) throw unusableFile('--trusted-key', file, 'no "BEGIN PUBLIC KEY" block in it (save publicKey from GET /v1/audit/public-key)');
    for (const pem of found) {
      try {
        keys.push(trustedKey(`${pem}\n`).publicKey);
      } catch (error) {
        throw unusableFile('--trusted-key', file, (error as Error).message);
      }
    }
  }
  return keys;
}

export function registerAuditCommands(program: Command, runtime: CliRuntime): void {
  const audit = program.command('audit').description('verify, export and prune the tamper-evident audit log');

  audit
    .command('verify')
    .description('check every record, link, signature and checkpoint; exit 1 naming the first bad record')
    .option('--file <export>', 'verify an export (audit export) instead of the database; needs no database')
    .option('--checkpoint <file>', 'a checkpoint kept earlier (GET /v1/audit/checkpoint): fail unless the log is at least as large and consistent with it')
    .option('--trusted-key <pem-file>', 'accept only signatures by this public key, and keys it rotated to (repeatable; keys the log lists are then ignored)', (file: string, files: string[]) => [...files, file], [] as string[])
    .option('--witness <spec>', 'check the log against every checkpoint this witness holds: dir:/PATH, github:OWNER/REPO#ISSUE or slack:CHANNEL_ID (comma-separated for several)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { file?: string; checkpoint?: string; trustedKey: string[]; witness?: string; json?: boolean }) => {
      const trustedKeys = await readTrustedKeys(runtime, opts.trustedKey);
      const checkpoint = opts.checkpoint === undefined ? undefined : await readArgumentFile(runtime, '--checkpoint', opts.checkpoint);
      let report: VerifyReport;
      if (opts.file) {
        // An auditor's offline check: the file alone, no services (and no database) started.
        // A GitHub or Slack witness takes those settings from the environment (GITHUB_TOKEN, SLACK_BOT_TOKEN, …).
        const env = opts.witness?.includes('github:') || opts.witness?.includes('slack:') ? (await import('../../config/config.ts')).resolveConfig(process.env) : undefined;
        const witnessed = opts.witness === undefined ? undefined : await readWitnessCheckpoints(opts.witness, env?.github, env?.slack);
        const read = await readExport(runtime, opts.file);
        report = 'failed' in read ? read.failed : await verifyInParallel(read.snapshot, trustedKeys, checkpoint, witnessed);
      } else {
        report = await runtime.withServices(async (services) => {
          const { readAuditSnapshot } = await import('../../audit/read-audit-snapshot.ts');
          const witnessed = opts.witness === undefined ? undefined : await readWitnessCheckpoints(opts.witness, services.config.github, services.config.slack);
          await services.audit.flush();
          return verifyInParallel(await readAuditSnapshot(services.db), trustedKeys, checkpoint, witnessed);
        });
      }
      print(runtime, opts.json, report, describeReport(report, opts.file, trustedKeys !== undefined));
      if (!report.ok) throw new CountersignError(422, 'audit_verify_failed', `audit log verification failed at seq ${report.seq}: ${report.reason}`);
    });

  registerAuditReviewCommands(audit, runtime);

  audit
    .command('export')
    .description('write the records, checkpoints and public keys as JSON lines (to stdout)')
    .option('--since <iso>', 'start at the last signed checkpoint before this time')
    .option('--format <format>', 'jsonl (the only format)', 'jsonl')
    .option('--json', 'the summary on stderr as JSON (the export itself is JSON lines either way)')
    .action(async (opts: { since?: string; format: string; json?: boolean }) => {
      if (opts.format !== 'jsonl') throw badRequest('invalid_format', `--format: only jsonl is supported, not "${opts.format}"`);
      const since = opts.since === undefined ? undefined : new Date(opts.since);
      if (since && Number.isNaN(since.getTime())) throw badRequest('invalid_since', `--since: "${opts.since}" is not an ISO 8601 time (e.g. 2025-01-31T00:00:00Z)`);
      const summary = await runtime.withServices(async (services) => {
        const { exportAuditLog } = await import('../../audit/audit-export.ts');
        await services.audit.flush();
        return exportAuditLog(services.db, services.signer, (text) => runtime.out(text), { ...(since ? { since } : {}), now: services.now() });
      });
      // stdout is the export; the summary goes beside it, so `> audit.jsonl` keeps the file clean.
      runtime.err(opts.json ? `${JSON.stringify(summary)}\n` : `Exported ${summary.records} audit records.\n`);
    });

  audit
    .command('prune')
    .description('delete records older than a duration, keeping the log verifiable from a signed checkpoint')
    .requiredOption('--older-than <duration>', 'e.g. 90d, 12h')
    .option('--json', 'machine-readable output')
    .action(async (opts: { olderThan: string; json?: boolean }) => {
      const olderThanMs = parseDuration(opts.olderThan);
      if (olderThanMs === undefined) throw badRequest('invalid_duration', `--older-than: "${opts.olderThan}" is not a duration like 90d, 12h or 30m`);
      const result = await runtime.withServices(async (services) => {
        const [{ pruneAuditLog }, { OPERATOR_ACTOR }] = await Promise.all([import('../../audit/prune-audit-log.ts'), import('../../audit/audit-record.ts')]);
        return pruneAuditLog(services.db, services.audit, { olderThanMs, now: services.now(), actor: OPERATOR_ACTOR });
      });
      const human =
        result.anchorTreeSize === null
          ? `Nothing to prune: no signed checkpoint lies wholly before ${result.cutoff}.`
          : `Pruned ${result.deleted} records (through seq ${result.anchorTreeSize}, older than ${result.cutoff}); the log now verifies from the signed checkpoint of tree size ${result.anchorTreeSize}.`;
      print(runtime, opts.json, result, human);
    });

  audit
    .command('checkpoint')
    .description('sign a checkpoint over every record now')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const checkpoint = await runtime.withServices(async (services) => {
        await services.audit.flush();
        return services.audit.checkpoint();
      });
      print(runtime, opts.json, checkpoint ?? null, checkpoint ? checkpoint.note.trimEnd() : 'The latest checkpoint already covers every record.');
    });
}

function describeReport(report: VerifyReport, file: string | undefined, trustedKeysOnly: boolean): string {
  const what = file ? `Audit export ${file}` : 'Audit log';
  if (!report.ok) return `${what} FAILS verification at seq ${report.seq}: ${report.reason}`;
  const range = report.records === 0 ? 'no records' : `${report.records} records (seq ${report.firstSeq}–${report.lastSeq})`;
  const anchor = report.anchor ? `, from the signed anchor at tree size ${report.anchor.treeSize} (${report.anchor.reason})` : '';
  const latest = report.latestCheckpoint ? `, latest at tree size ${report.latestCheckpoint.treeSize}, root ${report.latestCheckpoint.rootHash}` : '';
  const kept = report.keptCheckpoint ? ` It extends the checkpoint you kept (tree size ${report.keptCheckpoint.treeSize}, root ${report.keptCheckpoint.rootHash}).` : '';
  const witness = report.witness
    ? ` It is consistent with ${report.witness.checked === 1 ? 'the 1 checkpoint' : `all ${report.witness.checked} checkpoints`} the witness holds${report.witness.largest ? ` (the largest of tree size ${report.witness.largest.treeSize})` : ''}${report.witness.beforeAnchor > 0 ? `; ${report.witness.beforeAnchor} older ones predate the retained records and match the log's own` : ''}.`
    : '';
  const rotations = report.rotations > 0 ? ` ${report.rotations} key rotation${report.rotations === 1 ? '' : 's'} followed.` : '';
  return `${what} verifies: ${range}${anchor}; ${report.checkpoints} signed checkpoints${latest}; ${report.keys} ${trustedKeysOnly ? 'trusted ' : ''}signing keys.${kept}${witness}${rotations}`;
}
