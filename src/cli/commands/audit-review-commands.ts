import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { parseDuration } from '../../primitives/duration.ts';
import { badRequest, CountersignError } from '../../primitives/errors.ts';
import { print, type CliRuntime } from '../cli-runtime.ts';

const FORMATS = ['text', 'json', 'csv', 'html'];

/** `audit review` (the weekly review, on demand) and `audit rotate-key`. */
export function registerAuditReviewCommands(audit: Command, runtime: CliRuntime): void {
  audit
    .command('review')
    .description('review the verified audit log: decisions per reviewer and project, and flags (fast decisions, no reason, one-person share, refusals, off-hours)')
    .option('--since <duration>', 'how far back, e.g. 7d, 24h', '7d')
    .option('--project <key>', 'only this project')
    .option('--format <format>', 'text, json, csv or html', 'text')
    .option('--json', 'the same as --format json')
    .action(async (opts: { since: string; project?: string; format: string; json?: boolean }) => {
      const sinceMs = parseDuration(opts.since);
      if (sinceMs === undefined) throw badRequest('invalid_duration', `--since: "${opts.since}" is not a duration like 7d, 24h or 30m`);
      const format = opts.json ? 'json' : opts.format;
      if (!FORMATS.includes(format)) throw badRequest('invalid_format', `--format: expected ${FORMATS.join(', ')}, not "${opts.format}"`);
      const output = await runtime.withServices(async (services) => {
        const [{ reviewAuditLog }, { renderReview }] = await Promise.all([import('../../review/review-audit-log.ts'), import('../../review/render-review.ts')]);
        const until = services.now();
        const result = await reviewAuditLog(services, { since: new Date(until.getTime() - sinceMs), until, project: opts.project });
        if (!result.ok) throw new CountersignError(422, 'audit_verify_failed', `no review of a log that fails verification: seq ${result.verify.seq}: ${result.verify.reason} (countersign audit verify says more)`);
        return renderReview(result.review, format as 'text');
      });
      runtime.out(output);
    });

  audit
    .command('rotate-key')
    .description('make a new signing key, endorsed by the current one in the log; the server signs with it from its next start')
    .option('--out <file>', 'write the new private key (PEM) to this new file instead of the data directory (needed with COUNTERSIGN_SIGNING_KEY)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { out?: string; json?: boolean }) => {
      const rotated = await runtime.withServices(async (services) => {
        const [{ rotateSigningKey }, { OPERATOR_ACTOR }, { signingKeyPath }] = await Promise.all([import('../../audit/rotate-signing-key.ts'), import('../../audit/audit-record.ts'), import('../../primitives/signing-key.ts')]);
        if (services.config.signingKeyPem && !opts.out) {
          throw badRequest('signing_key_from_environment', 'COUNTERSIGN_SIGNING_KEY is set, so the new key cannot go to the data directory: pass --out FILE, then set COUNTERSIGN_SIGNING_KEY_FILE=FILE (or its content as COUNTERSIGN_SIGNING_KEY) and restart');
        }
        const out = opts.out ? path.resolve(runtime.cwd, opts.out) : undefined;
        const installed = signingKeyPath(services.config.dataDir);
        // Staged beside the key, moved into place once the rotation is committed.
        const staged = out ?? `${installed}.next`;
        let wrote = false;
        try {
          const result = await rotateSigningKey(services.db, services.audit, OPERATOR_ACTOR, async ({ privateKeyPem }) => {
            await fs.writeFile(staged, privateKeyPem, { flag: out ? 'wx' : 'w', mode: 0o600 });
            wrote = true;
          });
          if (!out) await fs.rename(staged, installed);
          return { previousKeyId: result.previousKeyId, keyId: result.keyId, publicKey: result.publicKeyPem, seq: result.seq, privateKeyFile: out ?? installed };
        } catch (error) {
          if (wrote) await fs.rm(staged, { force: true });
          if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw badRequest('file_exists', `--out ${opts.out}: the file exists; name a new one`);
          throw error;
        }
      });
      print(
        runtime,
        opts.json,
        rotated,
        `Rotated the audit signing key: ${rotated.previousKeyId} → ${rotated.keyId} (record ${rotated.seq}). The new private key is in ${rotated.privateKeyFile}; restart the server (every instance) to sign with it. Verifiers that trust ${rotated.previousKeyId}, or the first key, follow the rotation.`,
      );
    });
}
