import type { KnownBlock, MrkdwnElement, ModalView, PlainTextElement } from '@slack/web-api';
import type { DecisionRecord, Risk } from '../../db/schema.ts';
import { fitToLimit, payloadCutNote, trimNote } from '../fit-to-limit.ts';
import { payloadJson } from '../requester-text.ts';
import { grantSteps } from '../../projects/mapping-schema.ts';
import { codeBlock, escapeSlack, mention, plainText } from './slack-text.ts';

/** Slack refuses a text object over 3,000 characters (Block Kit, "Text object"). */
export const MAX_TEXT = 3_000;

/** The action ids of Countersign's buttons; a click on anything else is ignored. */
export const ACTIONS = {
  approve: 'countersign_approve',
  reject: 'countersign_reject',
  approveAll: 'countersign_approve_all',
  rejectAll: 'countersign_reject_all',
  items: 'countersign_items',
  approveWithOptions: 'countersign_approve_options',
} as const;

/** The block id of the batch's item checkboxes, read back from the interaction's `state`. */
export const ITEMS_BLOCK = 'countersign_items';

/** The modal that asks a reason for a rejection; its `private_metadata` names the message it came from. */
export const REJECT_MODAL = { callbackId: 'countersign_reject_reason', block: 'reason', input: 'reason_input' } as const;

/** The modal of "Approve with changes…": the payload to edit (as JSON) and an optional standing grant. */
export const APPROVE_MODAL = { callbackId: 'countersign_approve_options', payloadBlock: 'payload', payloadInput: 'payload_input', grantBlock: 'grant', grantInput: 'grant_input' } as const;

/** What the message says an approval's state is now, from the database or a channel notice. */
export type MessageState =
  | { kind: 'pending'; approvals: number; by: readonly string[] }
  | { kind: 'decided'; decision: DecisionRecord }
  | { kind: 'cancelled' };

/** One request of a batch message. */
export interface MessageItem {
  approvalId: string;
  action: string;
  summary: string;
  payloadHash: string;
  /** Settled items (a batch decided item by item) show their outcome and lose their checkbox. */
  status?: string;
}

/** Everything a Slack message shows of an approval (or a batch: `items`). */
export interface ApprovalMessage {
  approvalId: string;
  project: string;
  action: string;
  summary: string;
  details: string | null;
  payload: unknown;
  payloadHash: string;
  risk: Risk;
  requestedBy: string | null;
  approvalUrl: string;
  /** The reviewers who may decide now, as the mapping or the people directory gives their Slack ids. */
  reviewers: readonly string[];
  required: number;
  state: MessageState;
  /** The escalation tier reached, when above 0. */
  tier?: number;
  /** Whether the buttons decide (`provider: slack`, or a notifying channel whose answers count). */
  buttons: boolean;
  items?: readonly MessageItem[];
  /** What a reviewer may do beyond yes and no here (approve with changes, a standing grant): a third button. */
  choices?: { edit: boolean; grantMaxHours?: number };
}

type Button = { type: 'button'; action_id: string; text: PlainTextElement; style?: 'primary' | 'danger'; value: string };
type TextObject = MrkdwnElement | PlainTextElement;
export type Block = KnownBlock;

const mrkdwn = (text: string): MrkdwnElement => ({ type: 'mrkdwn', text, verbatim: true });
const section = (text: string): Block => ({ type: 'section', text: mrkdwn(text) });
const context = (...elements: TextObject[]): Block => ({ type: 'context', elements });
/** A link Countersign writes, to its own URL (never requester text). */
const link = (url: string, label: string) => `<${escapeSlack(url)}|${label}>`;

const RISK: Record<Risk, string> = { low: 'low', medium: 'medium', high: ':warning: *high*' };

/** The decision in Countersign's words; the reviewers' reason is their text, shown as plain text. */
function stateBlocks(message: ApprovalMessage): Block[] {
  const { state, required } = message;
  if (state.kind === 'cancelled') return [section(':no_entry_sign: *Cancelled* by the requesting agent; nothing to decide.')];
  if (state.kind === 'pending') {
    const votes = state.by.length > 0 ? ` so far: ${state.by.map(mention).join(', ')}` : '';
    return [section(`:hourglass_flowing_sand: *Pending* · ${state.approvals} of ${required} approval${required === 1 ? '' : 's'}${votes}`)];
  }
  const { decision } = state;
  const head =
    decision.outcome === 'approved'
      ? `:white_check_mark: *Approved* by ${decision.by.map(mention).join(', ')}`
      : decision.outcome === 'rejected'
        ? `:x: *Rejected* by ${decision.by.map(mention).join(', ')}`
        : ':alarm_clock: *Expired*: no decision in time, so it is not approved';
  return [section(head), ...(decision.reason ? [context(mrkdwn('*Reason*'), plainText(decision.reason))] : [])];
}

/** The payload and details as code blocks, trimmed to Slack's limit with a link to the whole request. */
function contentBlocks(message: ApprovalMessage): Block[] {
  const more = (note: string) => `\n_(${note} ${link(message.approvalUrl, 'Countersign')})_`;
  const blocks: Block[] = [];
  if (message.details !== null && message.details !== '') {
    const details = fitToLimit<string>({
      limit: MAX_TEXT,
      size: (text) => text.length,
      payload: '',
      fields: [message.details],
      render: (_, [field]) => `*Details* (as the agent wrote them)\n${codeBlock(field!.text)}${field!.cut > 0 ? more(trimNote(field!.cut)) : ''}`,
    });
    blocks.push(section(details));
  }
  const payload = fitToLimit<string>({
    limit: MAX_TEXT,
    size: (text) => text.length,
    payload: payloadJson(message.payload),
    fields: [],
    render: (json) => `*Payload*\n${codeBlock(json.text, { reveal: false })}${json.cut > 0 ? more(payloadCutNote(json.cut)) : ''}`,
  });
  blocks.push(section(payload), context(mrkdwn(`*Payload hash* \`${escapeSlack(message.payloadHash)}\``)));
  return blocks;
}

function itemBlocks(message: ApprovalMessage, items: readonly MessageItem[]): Block[] {
  const blocks: Block[] = [section(`*${items.length} requests*, decided together. Untick a request to leave it out (it is rejected) before *Approve all*.`)];
  for (const item of items) {
    blocks.push(context(mrkdwn(`\`${item.approvalId}\`${item.status ? ` · *${item.status}*` : ''} · hash \`${escapeSlack(item.payloadHash)}\``), plainText(item.summary), plainText(item.action)));
  }
  const open = items.filter((item) => !item.status);
  if (message.buttons && message.state.kind === 'pending' && open.length > 0) {
    // Slack allows 10 options per checkbox group: one group per 10 items, all ticked at first.
    for (let i = 0; i < open.length; i += 10) {
      const options = open.slice(i, i + 10).map((item) => ({ text: mrkdwn(`\`${item.approvalId}\``), value: item.approvalId }));
      blocks.push({ type: 'actions', block_id: `${ITEMS_BLOCK}_${i / 10}`, elements: [{ type: 'checkboxes', action_id: ACTIONS.items, options, initial_options: options }] });
    }
  }
  return blocks;
}

/**
 * The Block Kit message of an approval (or a batch), and its notification text. Countersign's
 * own words are mrkdwn; everything the agent wrote goes through slack-text.ts. The fallback
 * `text` (what a notification or a screen reader shows) holds only Countersign's words.
 */
export function renderApprovalMessage(message: ApprovalMessage): { text: string; blocks: Block[] } {
  const pending = message.state.kind === 'pending';
  const title = message.items ? `Batch of ${message.items.length} requests` : 'Approval request';
  const blocks: Block[] = [
    section(`*${title}* · project \`${escapeSlack(message.project)}\` · risk ${RISK[message.risk]} · \`${message.approvalId}\``),
    context(mrkdwn('*Summary*'), plainText(message.summary)),
    context(mrkdwn('*Action*'), plainText(message.action), mrkdwn('*Requested by*'), plainText(message.requestedBy ?? 'unknown')),
  ];
  if (message.items) blocks.push(...itemBlocks(message, message.items));
  else blocks.push(...contentBlocks(message));
  const reviewers = message.reviewers.length > 0 ? message.reviewers.map(mention).join(', ') : '_none mapped_';
  const tier = message.tier ? ` · escalated to tier ${message.tier}` : '';
  blocks.push(section(`*Reviewers* ${reviewers} · ${message.required} needed${tier} · ${link(message.approvalUrl, 'open in Countersign')}`));
  blocks.push(...stateBlocks(message));
  if (message.buttons && pending) {
    const value = message.approvalId;
    const elements: Button[] = message.items
      ? [
          { type: 'button', action_id: ACTIONS.approveAll, text: { type: 'plain_text', text: 'Approve all ticked' }, style: 'primary', value },
          { type: 'button', action_id: ACTIONS.rejectAll, text: { type: 'plain_text', text: 'Reject all' }, style: 'danger', value },
        ]
      : [
          { type: 'button', action_id: ACTIONS.approve, text: { type: 'plain_text', text: 'Approve' }, style: 'primary', value },
          { type: 'button', action_id: ACTIONS.reject, text: { type: 'plain_text', text: 'Reject…' }, style: 'danger', value },
          ...(message.choices && (message.choices.edit || message.choices.grantMaxHours !== undefined)
            ? [{ type: 'button' as const, action_id: ACTIONS.approveWithOptions, text: { type: 'plain_text' as const, text: message.choices.edit ? 'Approve with changes…' : 'Approve and allow…' }, value }]
            : []),
        ];
    blocks.push({ type: 'actions', block_id: 'countersign_decide', elements });
  }
  const outcome = message.state.kind === 'pending' ? 'needs review' : message.state.kind === 'cancelled' ? 'cancelled' : message.state.decision.outcome;
  return { text: `Countersign: ${title.toLowerCase()} ${message.approvalId} in ${message.project} (risk ${message.risk}): ${outcome}`, blocks };
}

/**
 * The "Approve with changes…" modal: the payload as JSON to edit (when the project allows edits
 * and it fits Slack's 3,000 characters) and "and allow the same for" hours (when it allows
 * grants). The engine checks both again when the submission arrives.
 */
export function approveModal(metadata: string, message: Pick<ApprovalMessage, 'approvalId' | 'payload' | 'choices'>): ModalView {
  const json = payloadJson(message.payload);
  const editable = message.choices?.edit === true && json.length <= MAX_TEXT;
  const grant = message.choices?.grantMaxHours;
  return modal(APPROVE_MODAL.callbackId, metadata, 'Approve', [
      section(`Approving \`${message.approvalId}\`.${editable ? ' Change the payload to approve with changes: the change is recorded, and earlier approvals are taken back.' : ''}`),
      ...(editable
        ? [{ type: 'input' as const, block_id: APPROVE_MODAL.payloadBlock, label: { type: 'plain_text' as const, text: 'Payload (JSON)' }, element: { type: 'plain_text_input' as const, action_id: APPROVE_MODAL.payloadInput, multiline: true, initial_value: json, max_length: MAX_TEXT } }]
        : []),
      ...(grant !== undefined
        ? [
            {
              type: 'input' as const,
              block_id: APPROVE_MODAL.grantBlock,
              optional: true,
              label: { type: 'plain_text' as const, text: 'And allow the same requests of this agent for' },
              element: { type: 'static_select' as const, action_id: APPROVE_MODAL.grantInput, placeholder: { type: 'plain_text' as const, text: 'no standing grant' }, options: grantSteps(grant).map((hours) => ({ text: { type: 'plain_text' as const, text: `${hours} hour${hours === 1 ? '' : 's'}` }, value: String(hours) })) },
            },
          ]
        : []),
  ]);
}

/** The reason modal a Reject click opens (`views.open`); `metadata` ties its submission to the message. */
export function rejectModal(metadata: string, approvalId: string): ModalView {
  return modal(REJECT_MODAL.callbackId, metadata, 'Reject', [
    section(`Rejecting \`${approvalId}\`. The agent is told your reason.`),
    { type: 'input', block_id: REJECT_MODAL.block, label: { type: 'plain_text', text: 'Reason' }, element: { type: 'plain_text_input', action_id: REJECT_MODAL.input, multiline: true, max_length: 2000 } },
  ]);
}

/** A Countersign modal: `metadata` names the message it came from; `verb` is its title's and submit button's word. */
function modal(callbackId: string, metadata: string, verb: 'Approve' | 'Reject', blocks: ModalView['blocks']): ModalView {
  return {
    type: 'modal',
    callback_id: callbackId,
    private_metadata: metadata,
    title: { type: 'plain_text', text: `${verb} request` },
    submit: { type: 'plain_text', text: verb },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks,
  };
}
