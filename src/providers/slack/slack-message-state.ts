import { sql, type Kysely } from 'kysely';
import type { ApprovalRow, Database } from '../../db/schema.ts';
import type { ProjectMapping } from '../../projects/mapping-schema.ts';
import { findProject } from '../../projects/project-store.ts';
import { decisionChoices } from '../../projects/mapping-schema.ts';
import type { ApprovalMessage, MessageItem, MessageState } from './slack-message.ts';
import { parseMessageKey } from './slack-ticket-key.ts';

/** Who may decide an approval now (the engine's `authorizedReviewers`, wired in by start-services), as Slack user ids where known. */
export type CurrentReviewers = (project: ProjectMapping, approval: Pick<ApprovalRow, 'escalation_tier' | 'policy'>) => Iterable<string>;

/**
 * The mapping's entries (person ids or native identities of `namespace`) as Slack user ids where
 * the people directory has one, the rest as they are (shown as text, never as a mention):
 * `People.identitiesIn(entries, 'slack', { keepUnknown: true })`, wired in by start-services.
 */
export type SlackIdsOf = (entries: readonly string[]) => Promise<string[]>;

export interface MessageStateDeps {
  db: Kysely<Database>;
  publicUrl: string;
  reviewers: CurrentReviewers;
  slackIds: SlackIdsOf;
}

async function stateOf(deps: MessageStateDeps, approval: ApprovalRow, approvers: string[]): Promise<MessageState> {
  if (approval.status === 'cancelled') return { kind: 'cancelled' };
  if (approval.decision && approval.status !== 'pending') return { kind: 'decided', decision: { ...approval.decision, by: await deps.slackIds(approval.decision.by) } };
  return { kind: 'pending', approvals: approvers.length, by: await deps.slackIds(approvers) };
}

const decidedState = async (deps: MessageStateDeps, decision: NonNullable<ApprovalRow['decision']>): Promise<MessageState> => ({ kind: 'decided', decision: { ...decision, by: await deps.slackIds(decision.by) } });

const ITEM_STATUS: Record<string, string | undefined> = { approved: 'approved', rejected: 'rejected', expired: 'expired', cancelled: 'cancelled' };

/**
 * The message of an approval (or a batch) as it should read now, from the database: what
 * `chat.update` writes whenever something changed. Rendering from the stored state, never from
 * the notice that triggered it, makes every update idempotent: a retried job writes the same.
 */
export async function loadApprovalMessage(deps: MessageStateDeps, id: string, buttons: boolean): Promise<ApprovalMessage | undefined> {
  const { db } = deps;
  if (id.startsWith('bat_')) {
    const batch = await db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
    if (!batch) return undefined;
    const items = await db.selectFrom('approvals').selectAll().where('batch_id', '=', id).orderBy('id').execute();
    const first = items[0];
    const project = first ? await findProject(db, batch.project) : undefined;
    if (!first || !project) return undefined;
    const pending = items.filter((item) => item.status === 'pending');
    const decided = items.filter((item) => item.decision);
    const state: MessageState =
      pending.length > 0
        ? { kind: 'pending', approvals: 0, by: [] }
        : items.every((item) => item.status === 'cancelled')
          ? { kind: 'cancelled' }
          : await decidedState(deps, decided.find((item) => item.status === 'approved')?.decision ?? decided[0]!.decision!);
    const shown: MessageItem[] = items.map((item) => ({ approvalId: item.id, action: item.action, summary: item.summary, payloadHash: item.payload_hash, ...(ITEM_STATUS[item.status] ? { status: ITEM_STATUS[item.status]! } : {}) }));
    return {
      approvalId: id,
      project: batch.project,
      action: first.action,
      summary: `${items.length} requests of ${batch.project}`,
      details: null,
      payload: null,
      payloadHash: '',
      risk: items.some((item) => item.risk === 'high') ? 'high' : items.some((item) => item.risk === 'medium') ? 'medium' : 'low',
      requestedBy: first.requested_by,
      approvalUrl: `${deps.publicUrl}/v1/batches/${id}`,
      reviewers: await deps.slackIds([...deps.reviewers(project, first)]),
      required: first.required_approvals,
      state,
      ...(first.escalation_tier > 0 ? { tier: first.escalation_tier } : {}),
      buttons,
      items: shown,
    };
  }
  const approval = await db.selectFrom('approvals').selectAll().where('id', '=', id).executeTakeFirst();
  const project = approval ? await findProject(db, approval.project) : undefined;
  if (!approval || !project) return undefined;
  const votes = await db.selectFrom('decision_votes').select('reviewer').where('approval_id', '=', id).where('outcome', '=', 'approve').orderBy('created_at').execute();
  return {
    approvalId: id,
    project: approval.project,
    action: approval.action,
    summary: approval.summary,
    details: approval.details,
    payload: approval.payload,
    payloadHash: approval.payload_hash,
    risk: approval.risk,
    requestedBy: approval.requested_by,
    approvalUrl: `${deps.publicUrl}/v1/approvals/${id}`,
    reviewers: await deps.slackIds([...deps.reviewers(project, approval)]),
    required: approval.required_approvals,
    state: await stateOf(deps, approval, votes.map((vote) => vote.reviewer)),
    choices: decisionChoices(project, approval),
    ...(approval.escalation_tier > 0 ? { tier: approval.escalation_tier } : {}),
    buttons,
  };
}

/** The approval or batch whose Slack message is `key` (`CHANNEL:TS`), the way the webhook path finds a Jira issue's: its ticket, or its `notify.slack` notice. */
export async function findByMessageKey(db: Kysely<Database>, key: string): Promise<string | undefined> {
  const { channel, ts } = parseMessageKey(key);
  const notice = await db.selectFrom('channel_messages').select('approval_id').where('channel', '=', 'slack').where(sql<string>`ref->>'channel'`, '=', channel).where(sql<string>`ref->>'key'`, '=', ts).executeTakeFirst();
  if (notice) return notice.approval_id;
  const batch = await db.selectFrom('batches').select('id').where('provider', '=', 'slack').where(sql<string>`ticket->>'key'`, '=', key).executeTakeFirst();
  if (batch) return batch.id;
  const row = await db.selectFrom('approvals').select('id').where('provider', '=', 'slack').where('batch_id', 'is', null).where(sql<string>`ticket->>'key'`, '=', key).executeTakeFirst();
  return row?.id;
}
