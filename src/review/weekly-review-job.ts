import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Database } from '../db/schema.ts';
import type { JobQueue } from '../jobs/job-queue.ts';
import { sha256Hex } from '../primitives/canonical-json.ts';
import { readReviewSettings, type ReviewDestination, type ReviewSettings } from '../projects/review-settings.ts';
import type { ProviderRegistry } from '../providers/provider-registry.ts';
import type { PeopleDirectory } from '../channels/people-directory.ts';
import { renderReview, reviewTitle } from './render-review.ts';
import { reviewAuditLog } from './review-audit-log.ts';

const DAY_MS = 86_400_000;

/**
 * Posts a report somewhere people read it; returns its link. GitHub and Jira through the
 * provider adapters' `postReport`; Slack and email through `posters` (review-posters.ts),
 * handed in by start-services.ts when those channels are configured.
 */
export type ReviewPoster = (section: Readonly<Record<string, unknown>>, report: { title: string; text: string }) => Promise<{ url: string }>;

export interface WeeklyReviewDeps {
  db: Kysely<Database>;
  audit: Pick<AuditLog, 'flush' | 'append'>;
  jobs: Pick<JobQueue, 'work' | 'schedule' | 'unschedule'>;
  providers: Pick<ProviderRegistry, 'get'>;
  people: Pick<PeopleDirectory, 'load'>;
  logger: Logger;
  now: () => Date;
  posters?: Readonly<Record<string, ReviewPoster>>;
}

/** Schedules the weekly job from the settings (or unschedules it when `review.post` is absent); pg-boss keeps one schedule across instances. */
export async function syncReviewSchedule(jobs: Pick<JobQueue, 'schedule' | 'unschedule'>, settings: ReviewSettings): Promise<void> {
  if (settings.post) await jobs.schedule('review-weekly', settings.schedule);
  else await jobs.unschedule('review-weekly');
}

/** The server's part: the worker and the schedule. */
export async function startWeeklyReview(deps: WeeklyReviewDeps): Promise<void> {
  await deps.jobs.work('review-weekly', async () => {
    await runWeeklyReview(deps);
  });
  await syncReviewSchedule(deps.jobs, await readReviewSettings(deps.db));
}

const destinationOf = (post: ReviewDestination): [kind: string, section: Record<string, unknown>] => Object.entries(post)[0] as [string, Record<string, unknown>];

/** How the destination is named in the audit record and the log: `github:acme/ops`, `jira:OPS`, `slack:C…`, `email`. */
function describeDestination(kind: string, section: Record<string, unknown>): string {
  if (kind === 'github') return `github:${String(section.owner)}/${String(section.repo)}`;
  if (kind === 'jira') return `jira:${String(section.project)}`;
  if (kind === 'slack') return `slack:${String(section.channel)}`;
  return kind;
}

export type WeeklyReviewOutcome = { posted: true; url: string; reportHash: string; periodStart: string } | { posted: false; reason: string };

/**
 * Builds the review of the seven days before today (UTC midnight to midnight) and posts it.
 * The week is claimed first (review_posts): a second instance, or a retry after the post
 * was made, finds it taken and posts nothing. A post that failed releases the claim so the
 * retry posts; only a crash between posting and recording leaves the week claimed, and that
 * week is then not posted again (at most once: a duplicate report is the worse failure).
 */
export async function runWeeklyReview(deps: WeeklyReviewDeps): Promise<WeeklyReviewOutcome> {
  const { db, logger } = deps;
  const settings = await readReviewSettings(db);
  if (!settings.post) return { posted: false, reason: 'no review.post destination in the mapping' };
  const [kind, section] = destinationOf(settings.post);
  const destination = describeDestination(kind, section);
  const until = new Date(Math.floor(deps.now().getTime() / DAY_MS) * DAY_MS);
  const since = new Date(until.getTime() - 7 * DAY_MS);

  const claimed = await db.insertInto('review_posts').values({ period_start: since, period_end: until, status: 'posting', destination }).onConflict((oc) => oc.column('period_start').doNothing()).returning('period_start').executeTakeFirst();
  if (!claimed) {
    const row = await db.selectFrom('review_posts').select(['status', 'url']).where('period_start', '=', since).executeTakeFirst();
    const reason = row?.status === 'posted' ? `the review of the week from ${since.toISOString()} was posted already (${row.url ?? 'no link'})` : `an earlier attempt at the review of the week from ${since.toISOString()} stopped while posting; check ${destination} and post it by hand if it is missing (countersign audit review --since 7d)`;
    logger.info({ periodStart: since.toISOString(), destination }, reason);
    return { posted: false, reason };
  }
  try {
    const result = await reviewAuditLog(deps, { since, until });
    const report = result.ok
      ? { title: reviewTitle(result.review), text: renderReview(result.review, 'text') }
      : {
          title: `Countersign weekly review ${since.toISOString().slice(0, 10)}: the audit log FAILS verification`,
          text: `The audit log fails verification at seq ${result.verify.seq}: ${result.verify.reason}\nNo review is made of a log that does not verify. Run countersign audit verify, and countersign audit verify --witness with your witness, to see what changed.\n`,
        };
    const poster = deps.posters?.[kind] ?? providerPoster(deps.providers, kind);
    const { url } = await poster(section, report);
    const reportHash = `sha256:${sha256Hex(report.text)}`;
    await db.transaction().execute(async (trx) => {
      await trx.updateTable('review_posts').set({ status: 'posted', url, report_hash: reportHash, posted_at: new Date() }).where('period_start', '=', since).execute();
      await deps.audit.append(trx, {
        event: 'review.posted',
        actor: { kind: 'system', id: 'weekly-review', via: 'schedule' },
        data: { periodStart: since.toISOString(), periodEnd: until.toISOString(), destination, url, reportHash, verified: result.ok, flags: result.ok ? result.review.flags.length : null },
      });
    });
    logger.info({ periodStart: since.toISOString(), destination, url }, 'weekly review posted');
    return { posted: true, url, reportHash, periodStart: since.toISOString() };
  } catch (error) {
    // Nothing was posted (or the post's answer was lost): the retry may post.
    await db.deleteFrom('review_posts').where('period_start', '=', since).where('status', '=', 'posting').execute();
    throw error;
  }
}

function providerPoster(providers: Pick<ProviderRegistry, 'get'>, kind: string): ReviewPoster {
  if (kind !== 'github' && kind !== 'jira') {
    return async () => {
      throw new Error(`review.post.${kind}: ${kind} is not configured on this server (${kind === 'slack' ? 'SLACK_BOT_TOKEN' : kind === 'email' ? 'SMTP_URL' : kind}); the weekly review cannot be posted there`);
    };
  }
  return async (section, report) => {
    const adapter = providers.get(kind);
    if (!adapter.postReport) throw new Error(`the ${kind} provider cannot post reports`);
    const ticket = await adapter.postReport(Object.fromEntries(Object.entries(section).map(([key, value]) => [key, String(value)])), report);
    return { url: ticket.url };
  };
}
