import { z } from 'zod';
import { parseWebhookJson } from '../parse-webhook-json.ts';
import { ACTIONS, APPROVE_MODAL, ITEMS_BLOCK, REJECT_MODAL } from './slack-message.ts';

/** Which of the two request URLs a request came to. */
export type SlackEndpoint = 'interactions' | 'events';

/** The message an input is about: the one Countersign posted (`ts`), or for a channel command only its channel. */
export interface MessageAddress {
  channel: string;
  ts?: string;
}

/**
 * What a verified Slack request asks for. `user` is always the signed `user.id` (interactions) or
 * `event.user` (events): Slack's own account of who acted, never a name in a message's text.
 * `id` is built only from the signed body, so a replay or an Events API retry gives the same
 * one, and reconciliation reading a thread reply back gives the one its event had.
 */
export type SlackInput =
  | { kind: 'url_verification'; challenge: string }
  /** Signed, but not a body Slack sends to this URL (no `payload=` JSON, not JSON): answered 400. */
  | { kind: 'malformed'; reason: string }
  | { kind: 'ignored'; reason: string; id?: string }
  /**
   * A decision: Approve (or Approve all ticked), the reason modal's submission, or a text command.
   * `approvalId` is absent for a thread reply read from an event: the thread's parent message says which.
   */
  | {
      kind: 'vote';
      id: string;
      approvalId?: string;
      message: MessageAddress;
      user: string;
      outcome: 'approve' | 'reject';
      reason: string | null;
      selected?: string[];
      /** From "Approve with changes…": the payload field's text, as typed (parsed by the engine's caller), and the grant hours picked. */
      payloadText?: string;
      grantHours?: number;
    }
  /** Reject (or Approve with changes…) was clicked: open its modal (the trigger is valid for 3 s). */
  | { kind: 'open-reject' | 'open-approve'; id: string; approvalId: string; message: Required<MessageAddress>; user: string; triggerId: string };

const APPROVAL_ID = /^(?:apr|bat)_[0-9A-Za-z]{1,64}$/;
const id = z.string().min(1).max(255);

const blockActions = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id }),
  trigger_id: id,
  container: z.object({ type: z.literal('message'), channel_id: id, message_ts: id }),
  actions: z.array(z.object({ action_id: id, value: z.string().max(255).optional(), action_ts: id })).min(1),
  state: z.object({ values: z.record(z.string(), z.record(z.string(), z.object({ selected_options: z.array(z.object({ value: z.string() })).optional() }))) }).optional(),
});

const viewSubmission = z.object({
  type: z.literal('view_submission'),
  user: z.object({ id }),
  view: z.object({
    id,
    callback_id: z.string(),
    private_metadata: z.string().max(3000),
    state: z.object({ values: z.record(z.string(), z.record(z.string(), z.object({ value: z.string().nullable().optional(), selected_option: z.object({ value: z.string() }).nullable().optional() }))) }),
  }),
});

const modalMetadata = z.object({ approvalId: z.string().regex(APPROVAL_ID), channel: id, ts: id });

const messageEvent = z.object({
  type: z.literal('event_callback'),
  event_id: id,
  event: z.object({
    type: z.string(),
    subtype: z.string().optional(),
    bot_id: z.string().optional(),
    user: id.optional(),
    channel: id.optional(),
    text: z.string().optional(),
    ts: id.optional(),
    thread_ts: z.string().optional(),
  }),
});

/** `approve` / `reject <reason>` in a thread; `approve apr_…` / `reject apr_… <reason>` in the channel (the article's text form). */
const THREAD_COMMAND = /^(approve|reject)(?:\s+([\s\S]*))?$/i;
const CHANNEL_COMMAND = /^(approve|reject)\s+((?:apr|bat)_[0-9A-Za-z]{1,64})(?:\s+([\s\S]*))?$/i;

/** A thread reply or channel message read as a command, from an event or from `conversations.replies` alike. */
export function readTextCommand(message: { user?: string; text?: string; ts?: string; thread_ts?: string; subtype?: string; bot_id?: string }, channel: string, parent?: { approvalId?: string; ts: string }): SlackInput {
  if (message.subtype !== undefined || message.bot_id !== undefined || !message.user || !message.ts) return { kind: 'ignored', reason: 'not a person’s new message' };
  // Slack writes a typed `<` as `&lt;`: the command words are plain ASCII, so the text is read as typed.
  const text = (message.text ?? '').trim();
  const activityId = `msg:${channel}:${message.ts}`;
  if (parent && message.thread_ts === parent.ts) {
    const command = THREAD_COMMAND.exec(text);
    if (!command) return { kind: 'ignored', reason: 'thread reply is not a command' };
    const outcome = command[1]!.toLowerCase() as 'approve' | 'reject';
    const reason = command[2]?.trim() || null;
    if (outcome === 'approve' && reason !== null) return { kind: 'ignored', reason: 'approve takes no words after it in a thread' };
    if (outcome === 'reject' && reason === null) return { kind: 'ignored', reason: 'reject needs a reason' };
    return { kind: 'vote', id: activityId, ...(parent.approvalId ? { approvalId: parent.approvalId } : {}), message: { channel, ts: parent.ts }, user: message.user, outcome, reason };
  }
  if (message.thread_ts !== undefined && message.thread_ts !== message.ts) return { kind: 'ignored', reason: 'reply in another thread' };
  const command = CHANNEL_COMMAND.exec(text);
  if (!command) return { kind: 'ignored', reason: 'channel message is not a command' };
  const outcome = command[1]!.toLowerCase() as 'approve' | 'reject';
  const reason = command[3]?.trim() || null;
  if (outcome === 'reject' && reason === null) return { kind: 'ignored', reason: 'reject needs a reason' };
  if (outcome === 'approve' && reason !== null) return { kind: 'ignored', reason: 'approve takes only the request id' };
  return { kind: 'vote', id: activityId, approvalId: command[2]!, message: { channel }, user: message.user, outcome, reason };
}

/**
 * Reads a verified request. Interactions come form-encoded with one `payload=` field holding
 * JSON; events as JSON. Never calls Slack; what does not concern Countersign is `ignored`.
 * Slack requests of other kinds are `ignored`; a body that is not what Slack sends at all is
 * `malformed`.

 */
export function parseSlackRequest(endpoint: SlackEndpoint, rawBody: string): SlackInput {
  let body: unknown;
  try {
    body = endpoint === 'interactions' ? parseWebhookJson(new URLSearchParams(rawBody).get('payload') ?? '') : parseWebhookJson(rawBody);
  } catch {
    return { kind: 'malformed', reason: endpoint === 'interactions' ? 'expected a form-encoded payload= field holding JSON' : 'expected a JSON body' };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { kind: 'malformed', reason: 'expected a JSON object' };
  const type = (body as { type?: unknown }).type;
  if (endpoint === 'events') {
    if (type === 'url_verification') {
      const challenge = (body as { challenge?: unknown }).challenge;
      return typeof challenge === 'string' && challenge.length <= 255 ? { kind: 'url_verification', challenge } : { kind: 'ignored', reason: 'url_verification without a challenge' };
    }
    const event = messageEvent.safeParse(body);
    if (!event.success) return { kind: 'ignored', reason: `event ${String(type)} is not a message` };
    const { event: message, event_id } = event.data;
    if (message.type !== 'message' || !message.channel) return { kind: 'ignored', reason: `event ${message.type} is not a message`, id: `event:${event_id}` };
    // Whether a thread's parent is Countersign's message is for the job to find out: carry the thread.
    const input = readTextCommand(message, message.channel, message.thread_ts && message.thread_ts !== message.ts ? { ts: message.thread_ts } : undefined);
    return input.kind === 'ignored' ? { ...input, id: `event:${event_id}` } : input;
  }
  if (type === 'block_actions') {
    const parsed = blockActions.safeParse(body);
    if (!parsed.success) return { kind: 'ignored', reason: 'block_actions not from a message' };
    const { user, container, actions, trigger_id, state } = parsed.data;
    const action = actions[0]!;
    const message = { channel: container.channel_id, ts: container.message_ts };
    // The click itself: who, on which message, which button, when (its action_ts). A replay has it all again.
    const clickId = `act:${container.channel_id}:${container.message_ts}:${action.action_id}:${user.id}:${action.action_ts}`;
    const approvalId = action.value ?? '';
    if (!APPROVAL_ID.test(approvalId)) return { kind: 'ignored', reason: `action ${action.action_id} names no approval` };
    switch (action.action_id) {
      case ACTIONS.approve:
        return { kind: 'vote', id: clickId, approvalId, message, user: user.id, outcome: 'approve', reason: null };
      case ACTIONS.approveAll: {
        const selected = Object.entries(state?.values ?? {})
          .filter(([block]) => block.startsWith(`${ITEMS_BLOCK}_`))
          .flatMap(([, inputs]) => inputs[ACTIONS.items]?.selected_options?.map((option) => option.value) ?? []);
        return { kind: 'vote', id: clickId, approvalId, message, user: user.id, outcome: 'approve', reason: null, selected };
      }
      case ACTIONS.rejectAll:
        return { kind: 'vote', id: clickId, approvalId, message, user: user.id, outcome: 'reject', reason: 'rejected as a whole in Slack' };
      case ACTIONS.reject:
        return { kind: 'open-reject', id: clickId, approvalId, message, user: user.id, triggerId: trigger_id };
      case ACTIONS.approveWithOptions:
        return { kind: 'open-approve', id: clickId, approvalId, message, user: user.id, triggerId: trigger_id };
      default:
        return { kind: 'ignored', reason: `action ${action.action_id} is not Countersign's` };
    }
  }
  if (type === 'view_submission') {
    const parsed = viewSubmission.safeParse(body);
    if (!parsed.success || (parsed.data.view.callback_id !== REJECT_MODAL.callbackId && parsed.data.view.callback_id !== APPROVE_MODAL.callbackId)) return { kind: 'ignored', reason: 'not Countersign’s modal' };
    const { view, user } = parsed.data;
    let metadata: z.infer<typeof modalMetadata>;
    try {
      metadata = modalMetadata.parse(JSON.parse(view.private_metadata));
    } catch {
      return { kind: 'ignored', reason: 'modal metadata is not Countersign’s' };
    }
    const address = { approvalId: metadata.approvalId, message: { channel: metadata.channel, ts: metadata.ts }, user: user.id };
    if (view.callback_id === APPROVE_MODAL.callbackId) {
      const payloadText = view.state.values[APPROVE_MODAL.payloadBlock]?.[APPROVE_MODAL.payloadInput]?.value ?? undefined;
      const hours = view.state.values[APPROVE_MODAL.grantBlock]?.[APPROVE_MODAL.grantInput]?.selected_option?.value;
      const grantHours = hours === undefined ? undefined : Number(hours);
      if (grantHours !== undefined && !(grantHours > 0)) return { kind: 'ignored', reason: 'grant hours are not a number' };
      return { kind: 'vote', id: `view:${view.id}`, ...address, outcome: 'approve', reason: null, ...(payloadText !== undefined ? { payloadText } : {}), ...(grantHours !== undefined ? { grantHours } : {}) };
    }
    const reason = view.state.values[REJECT_MODAL.block]?.[REJECT_MODAL.input]?.value?.trim() || null;
    if (!reason) return { kind: 'ignored', reason: 'rejection without a reason' };
    return { kind: 'vote', id: `view:${view.id}`, approvalId: metadata.approvalId, message: { channel: metadata.channel, ts: metadata.ts }, user: user.id, outcome: 'reject', reason };
  }
  return { kind: 'ignored', reason: `interaction ${String(type)} is not Countersign's` };
}

/** The dedupe key of a request: the same for a replay of it and for each Events API retry. */
export function deliveryKey(input: SlackInput): string | undefined {
  return input.kind === 'vote' || input.kind === 'open-reject' || input.kind === 'open-approve' || input.kind === 'ignored' ? input.id : undefined;
}
