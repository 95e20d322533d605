import os from 'node:os';
import type { Kysely } from 'kysely';
import type { AuditLog } from '../audit/audit-log.ts';
import { readAuditSnapshot } from '../audit/read-audit-snapshot.ts';
import { createWorkerSignatureChecker } from '../audit/signature-checker.ts';
import { verifyAuditLog, type VerifyReport } from '../audit/verify-audit-log.ts';
import type { Database } from '../db/schema.ts';
import type { PeopleDirectory } from '../channels/people-directory.ts';
import { readReviewSettings } from '../projects/review-settings.ts';
import { buildReview, type Review } from './build-review.ts';
import { gatherWhileVerifying } from './review-input.ts';

export type ReviewResult = { ok: true; review: Review } | { ok: false; verify: Extract<VerifyReport, { ok: false }> };

/**
 * Verifies the whole log and, only when it verifies, builds the review of `since`–`until`
 * from the records the verifier read (one pass). A log that fails verification gets no
 * report: its numbers could be anyone's.
 */
/** The identity namespace of a decision's channel, as the audit record's `via` names it (people-directory.ts). */
const NAMESPACE_OF_VIA: Readonly<Record<string, string>> = { cli: 'local', api: 'local', inbox: 'person', github: 'github', jira: 'jira', slack: 'slack', email: 'email' };

export async function reviewAuditLog(deps: { db: Kysely<Database>; audit: Pick<AuditLog, 'flush'>; people: Pick<PeopleDirectory, 'load'> }, options: { since: Date; until: Date; project?: string | undefined }): Promise<ReviewResult> {
  await deps.audit.flush();
  const settings = await readReviewSettings(deps.db);
  const { snapshot, input } = gatherWhileVerifying(await readAuditSnapshot(deps.db), options);
  const report = await verifyAuditLog(snapshot, { signatureChecker: (keys) => createWorkerSignatureChecker(keys, Math.max(1, Math.min(4, os.availableParallelism()))) });
  if (!report.ok) return { ok: false, verify: report };
  // Reviewers as people where the directory knows them (today's directory: a person removed since shows by identity).
  const people = await deps.people.load(deps.db);
  const personOf = (actor: { id: string; via: string }) => people.personOf({ namespace: NAMESPACE_OF_VIA[actor.via] ?? actor.via, id: actor.id })?.id;
  return { ok: true, review: buildReview(input, settings, { ...options, personOf }) };
}
