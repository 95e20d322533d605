import type { Kysely } from 'kysely';
import { executorFor } from '../db/open-database.ts';
import { toJson } from '../db/json.ts';
import type { ApprovalRow, Database } from '../db/schema.ts';
import type { JobData, JobQueue } from '../jobs/job-queue.ts';
import type { ProjectMapping } from '../projects/mapping-schema.ts';
import { findProject } from '../projects/project-store.ts';
import type { ChannelRegistry } from './channel-registry.ts';
import type { ApprovalSummary, ChannelMessageRef, ChannelNotice, NoticeContext, NotificationChannel } from './notification-channel.ts';
import type { PeopleDirectory } from './people-directory.ts';

export type NoticeKind = JobData['channel-notice']['kind'];

/** What queueing a notice needs: the queue and the channels. */
export interface ChannelNoticeQueueDeps {
  readonly jobs: Pick<JobQueue, 'send'>;
  readonly channels: Pick<ChannelRegistry, 'all' | 'for'>;
}

/**
 * Queues, in the caller's transaction, one `channel-notice` job for each channel that shows the
 * approval's project, so the notice is sent if and only if the change commits. No channel
 * configured: nothing is read or written.
 *
 * A `needs-review` notice also marks the approval as shown in that channel (a `channel_messages`
 * row without a ref yet), so a later notice that finds the mark but no ref waits for the first
 * one to be posted instead of being dropped (see {@link runChannelNotice}).
 */
export async function queueChannelNotice(
  deps: ChannelNoticeQueueDeps,
  trx: Kysely<Database>,
  approval: Pick<ApprovalRow, 'id' | 'project' | 'batch_id'>,
  notice: { kind: NoticeKind; tier?: number; by?: string },
  project?: ProjectMapping,
): Promise<void> {
  if (deps.channels.all.length === 0) return;
  // A batched request is shown on its batch's ticket; channels show single approvals.
  if (approval.batch_id !== null) return;
  const mapping = project?.key === approval.project ? project : await findProject(trx, approval.project);
  if (!mapping) return;
  for (const channel of deps.channels.for(mapping)) {
    if (notice.kind === 'needs-review') {
      await trx.insertInto('channel_messages').values({ approval_id: approval.id, channel: channel.name, ref: null }).onConflict((oc) => oc.doNothing()).execute();
    }
    await deps.jobs.send(executorFor(trx), 'channel-notice', { approvalId: approval.id, channel: channel.name, ...notice });
  }
}

/** What a notice job needs. */
export interface ChannelNoticeDeps {
  readonly db: Kysely<Database>;
  readonly channels: Pick<ChannelRegistry, 'get'>;
  readonly people: PeopleDirectory;
  readonly config: { readonly publicUrl: string };
}

/** The approval has no posted notice in this channel yet while an earlier one is still on its way: retried. */
export class NoticeNotPostedYet extends Error {}

/**
 * Shows one change in one channel. Built from the database as it is now, so a retried or late
 * job shows the current state: a channel that updates in place is told the outcome once the
 * approval is decided, whatever change queued the job, and jobs running out of order cannot put
 * an older state back.
 */
export async function runChannelNotice(deps: ChannelNoticeDeps, data: JobData['channel-notice'], meta: { jobId: string; attempt?: number }): Promise<void> {
  const channel = deps.channels.get(data.channel);
  if (!channel) return;
  const approval = await deps.db.selectFrom('approvals').selectAll().where('id', '=', data.approvalId).executeTakeFirst();
  if (!approval) return;
  const project = await findProject(deps.db, approval.project);
  if (!project) return;
  const shown = await deps.db.selectFrom('channel_messages').select('ref').where('approval_id', '=', approval.id).where('channel', '=', channel.name).executeTakeFirst();
  const previous = (shown?.ref ?? undefined) as ChannelMessageRef | undefined;

  if (data.kind !== 'needs-review' && channel.capabilities.updatesInPlace && !previous) {
    // Never shown here (auto-approved at intake, or a project that gained the channel later): nothing to update.
    if (!shown) return;
    throw new NoticeNotPostedYet(`the ${channel.name} notice of ${approval.id} is not posted yet`);
  }
  const notice = await buildNotice(deps, channel, approval, project, data);
  if (!notice) return;
  const retry = (meta.attempt ?? 1) > 1;
  const ref = await channel.notify(notice, previous, { retry, once: await sendsOfJob(deps.db, meta.jobId, approval.id, retry) });
  if (ref) {
    await deps.db
      .insertInto('channel_messages')
      .values({ approval_id: approval.id, channel: channel.name, ref: toJson(ref) })
      .onConflict((oc) => oc.columns(['approval_id', 'channel']).doUpdateSet({ ref: toJson(ref), updated_at: new Date() }))
      .execute();
  }
}

/**
 * {@link NoticeContext.once} for one job: what its earlier runs sent is read once (only a
 * retry can have any), and each completed send is recorded as soon as it is done.
 */
async function sendsOfJob(db: Kysely<Database>, jobId: string, approvalId: string, retry: boolean): Promise<NoticeContext['once']> {
  const sent = new Set(retry ? (await db.selectFrom('channel_notice_sends').select('recipient').where('job_id', '=', jobId).execute()).map((row) => row.recipient) : []);
  return async (key, send) => {
    if (sent.has(key)) return;
    await send();
    sent.add(key);
    await db.insertInto('channel_notice_sends').values({ job_id: jobId, recipient: key, approval_id: approvalId }).onConflict((oc) => oc.doNothing()).execute();
  };
}

async function buildNotice(deps: ChannelNoticeDeps, channel: NotificationChannel, approval: ApprovalRow, project: ProjectMapping, data: JobData['channel-notice']): Promise<ChannelNotice | undefined> {
  const summary = await approvalSummary(deps, approval);
  if (data.kind === 'needs-review') {
    if (approval.status === 'pending') {
      const tier = data.tier ?? 0;
      const entries = tier === 0 ? project.reviewers : (approval.policy?.escalation[tier - 1]?.reviewers ?? []);
      const recipients = (await deps.people.load(deps.db)).addressesOf(entries, approval.provider, channel.address);
      return { kind: 'needs-review', approval: summary, recipients, tier, ...(data.by ? { by: data.by } : {}) };
    }
    // Decided before the notice went out: nobody is asked to review it; a channel that keeps one
    // message per approval still posts it, showing the outcome.
    if (!channel.capabilities.updatesInPlace) return undefined;
  }
  if (approval.status === 'cancelled') return { kind: 'cancelled', approval: summary };
  if (approval.status !== 'pending' && approval.decision) return { kind: 'decided', approval: summary, decision: approval.decision };
  if (data.kind === 'counted' && approval.status === 'pending') return { kind: 'counted', approval: summary, by: data.by ?? '' };
  return undefined;
}

async function approvalSummary(deps: ChannelNoticeDeps, approval: ApprovalRow): Promise<ApprovalSummary> {
  const votes = await deps.db.selectFrom('decision_votes').select('reviewer').where('approval_id', '=', approval.id).where('outcome', '=', 'approve').execute();
  return {
    approvalId: approval.id,
    project: approval.project,
    status: approval.status,
    action: approval.action,
    summary: approval.summary,
    risk: approval.risk,
    requestedBy: approval.requested_by,
    payloadHash: approval.payload_hash,
    approvalUrl: `${deps.config.publicUrl}/approvals/${approval.id}`,
    approvals: approval.status === 'approved' ? (approval.decision?.by.length ?? votes.length) : votes.length,
    required: approval.required_approvals,
  };
}
