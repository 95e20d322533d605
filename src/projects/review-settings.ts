import { z } from 'zod';
import type { Kysely, Transaction } from 'kysely';
import type { AuditedDatabase } from '../audit/audit-log.ts';
import { OPERATOR_ACTOR, type AuditActor, type AuditEntry } from '../audit/audit-record.ts';
import { toJson } from '../db/json.ts';
import type { Database } from '../db/schema.ts';
import { canonicalJson } from '../primitives/canonical-json.ts';
import { safeText } from '../primitives/safe-text.ts';

const name = () => safeText({ min: 1, max: 255 });
const HHMM = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof DAYS)[number];

const timeZone = safeText({ min: 1, max: 64 }).refine((zone) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}, 'expected an IANA time zone such as UTC or Europe/Berlin');

// Five fields, as pg-boss's cron reads them (minute hour day-of-month month day-of-week).
const cron = safeText({ min: 9, max: 100 }).refine((text) => /^\S+( \S+){4}$/.test(text.trim()), 'expected a cron expression of five fields, such as "0 8 * * 1" (Mondays 08:00 UTC)');

/**
 * Where the weekly report goes. `github` and `jira` post through the provider's client (a new
 * issue each week); `slack` posts to a channel and `email` mails the listed addresses, when the
 * server runs them (src/review/review-posters.ts).
 */
const post = z.union([
  z.strictObject({ github: z.strictObject({ owner: name(), repo: name() }) }),
  z.strictObject({ jira: z.strictObject({ project: name(), issueType: name().default('Task') }) }),
  z.strictObject({ slack: z.strictObject({ channel: z.string().regex(/^[CG][A-Z0-9]{8,}$/, 'expected a channel id such as C0123ABCD') }) }),
  z.strictObject({ email: z.strictObject({ to: z.array(z.email()).min(1) }) }),
]);

/** The mapping file's top-level `review:`: thresholds of `countersign audit review` and the weekly job. Every field has a default. */
export const reviewSettingsSchema = z.strictObject({
  /** Decisions faster than this (seconds from request to vote) are flagged as possible rubber-stamping. */
  fastDecisionSeconds: z.number().min(0).max(86_400).default(10),
  /** A project's approvals made by one person above this share are flagged. */
  shareThreshold: z.number().gt(0).max(1).default(0.8),
  /** …when the project had at least this many approvals in the period (one approval is always 100 %). */
  shareMinimumApprovals: z.int().min(1).default(5),
  workingHours: z
    .strictObject({
      start: z.string().regex(HHMM, 'expected HH:MM, e.g. 08:00').default('08:00'),
      end: z.string().regex(HHMM, 'expected HH:MM, e.g. 18:00').default('18:00'),
      days: z.array(z.enum(DAYS)).min(1).default(['mon', 'tue', 'wed', 'thu', 'fri']),
      timeZone: timeZone.default('UTC'),
    })
    .refine((hours) => hours.start < hours.end, { message: 'start must be before end', path: ['end'] })
    .default({ start: '08:00', end: '18:00', days: ['mon', 'tue', 'wed', 'thu', 'fri'], timeZone: 'UTC' }),
  /** When the weekly job runs (UTC). */
  schedule: cron.default('0 8 * * 1'),
  /** Absent: the weekly job does not run (`countersign audit review` still works). */
  post: post.optional(),
});

export type ReviewSettings = z.infer<typeof reviewSettingsSchema>;
export type ReviewDestination = NonNullable<ReviewSettings['post']>;

export const DEFAULT_REVIEW_SETTINGS: ReviewSettings = Object.freeze(reviewSettingsSchema.parse({}));

/**
 * Makes the stored settings exactly `settings`, in the caller's transaction (a mapping file
 * applies whole or not at all, as with `people:`); returns whether they changed. The caller
 * audits the change with {@link reviewAuditEntry}, last.
 */
export async function replaceReviewSettings(trx: Transaction<Database>, settings: ReviewSettings): Promise<boolean> {
  const existing = await trx.selectFrom('review_settings').select('settings').forUpdate().executeTakeFirst();
  if (existing && canonicalJson(existing.settings) === canonicalJson(settings)) return false;
  await trx
    .insertInto('review_settings')
    .values({ settings: toJson(settings) })
    .onConflict((oc) => oc.column('id').doUpdateSet({ settings: toJson(settings), updated_at: new Date() }))
    .execute();
  return true;
}

export const reviewAuditEntry = (settings: ReviewSettings, actor: AuditActor): AuditEntry => ({ event: 'review.settings_changed', actor, data: { settings } });

/** Stores the settings alone, in a transaction of its own (audited when they change); returns whether they changed. */
export async function applyReviewSettings({ db, audit }: AuditedDatabase, settings: ReviewSettings, actor: AuditActor = OPERATOR_ACTOR): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const changed = await replaceReviewSettings(trx, settings);
    if (changed) await audit.append(trx, reviewAuditEntry(settings, actor));
    return changed;
  });
}

/** The stored settings, or the defaults before any mapping file named `review:`. */
export async function readReviewSettings(db: Kysely<Database>): Promise<ReviewSettings> {
  const row = await db.selectFrom('review_settings').select('settings').executeTakeFirst();
  return row ? reviewSettingsSchema.parse(row.settings) : DEFAULT_REVIEW_SETTINGS;
}
