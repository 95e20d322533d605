import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { signSlackRequest } from '../../src/providers/slack/slack-signature.ts';
import { slackFixtures, type BlockActionsPayload, type ViewSubmissionPayload } from '../fixtures/slack/index.ts';

/**
 * A local server that plays the Slack Web API for the methods Countersign calls, driven by the
 * real `@slack/web-api` client (`slackApiUrl`). Like Slack it takes form-encoded arguments
 * (objects as JSON strings) with the bot token as a Bearer header, answers HTTP 200 with
 * `{ ok: true, … }` or `{ ok: false, error }` (`invalid_auth`, `channel_not_found`,
 * `message_not_found`, `cant_update_message`, `invalid_blocks`, `invalid_arguments`), and 429
 * with `Retry-After` when a test asks. Every call is recorded, and each method's arguments are
 * checked against its documented shape (channel, ts, text fallback, blocks and their text
 * objects within Block Kit's limits): a call that breaks them lands in `invalid`.
 *
 * People act through the helpers, which return the signed request Slack would send to
 * Countersign (`click`, `submitReject`, `reply`, `say`), built from test/fixtures/slack/.
 */

export interface RecordedSlackCall {
  method: string;
  args: Record<string, unknown>;
  ok: boolean;
  error?: string;
  status: number;
  at: number;
}

export interface FakeSlackMessage {
  channel: string;
  ts: string;
  user: string;
  text: string;
  blocks: Array<Record<string, unknown>>;
  thread_ts?: string;
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
  bot_id?: string;
}

export interface SignedRequest {
  body: string;
  headers: Record<string, string>;
}

type Failure = { status: 429; retryAfter: number } | { status: 500 } | { error: string };

export interface FakeSlack {
  readonly url: string;
  readonly token: string;
  readonly signingSecret: string;
  /** SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL for a server using this fake. */
  readonly serverEnv: Readonly<Record<'SLACK_BOT_TOKEN' | 'SLACK_SIGNING_SECRET' | 'SLACK_API_URL', string>>;
  readonly botUser: string;
  readonly calls: RecordedSlackCall[];
  readonly invalid: string[];
  readonly messages: FakeSlackMessage[];
  readonly ephemerals: Array<{ channel: string; user: string; text: string }>;
  readonly views: Array<{ id: string; trigger_id: string; view: Record<string, unknown> }>;
  /** Channels that exist; `conversations.info` on another answers `channel_not_found`. */
  readonly channels: Map<string, { is_member: boolean; is_archived: boolean }>;
  /** The next call of `method` gets this answer (once per entry). */
  failNext(method: string, failure: Failure): void;
  calledMethods(): string[];
  /** The Countersign message naming `approvalId` in its metadata. */
  messageFor(approvalId: string): FakeSlackMessage | undefined;
  /** All mrkdwn and plain_text strings of a message's blocks, in order. */
  texts(message: FakeSlackMessage): string[];
  /** A person clicks a button of a Countersign message; `edit` changes the payload as a forger would. */
  click(message: FakeSlackMessage, user: string, actionId: string, options?: { unticked?: string[]; edit?: (payload: BlockActionsPayload) => void; actionTs?: string }): SignedRequest;
  /** A person submits the reason modal opened last for them. */
  submitReject(user: string, reason: string): SignedRequest;
  /** A person submits the last modal opened with these input values (`state.values`, by block and action id). */
  submitView(user: string, values: ViewSubmissionPayload['view']['state']['values']): SignedRequest;
  /** A person replies in the message's thread (the reply is kept for `conversations.replies`); returns the Events API request. */
  reply(message: FakeSlackMessage, user: string, text: string): SignedRequest;
  /** A person writes in the channel (not in a thread). */
  say(channel: string, user: string, text: string): SignedRequest;
  /** Adds a thread reply Slack has but whose event never reached Countersign (the service was down). */
  replyUnseen(message: FakeSlackMessage, user: string, text: string): void;
  urlVerification(): SignedRequest & { challenge: string };
  /** Signs any body as Slack would, at `timestamp` (seconds; default now), with `secret` (default the app's). */
  sign(body: string, options?: { timestamp?: number; secret?: string }): SignedRequest;
  stop(): Promise<void>;
}

const MAX_TEXT = 3000;
const CHANNEL = /^[CGD][A-Z0-9]{2,30}$/;
const USER = /^[UW][A-Z0-9]{2,30}$/;
const TS = /^\d{10}\.\d{6}$/;

/** Block Kit's rules for what Countersign sends: a text object's type and length, a block's known type, context's 10 elements, 50 blocks. */
export function blockProblems(blocks: unknown): string[] {
  if (!Array.isArray(blocks)) return ['blocks is not an array'];
  const problems: string[] = [];
  if (blocks.length > 50) problems.push(`${blocks.length} blocks (at most 50)`);
  const text = (object: unknown, where: string) => {
    const t = object as { type?: unknown; text?: unknown };
    if (t?.type !== 'mrkdwn' && t?.type !== 'plain_text') return problems.push(`${where}: text object type ${String(t?.type)}`);
    if (typeof t.text !== 'string' || t.text.length < 1 || t.text.length > MAX_TEXT) problems.push(`${where}: text length ${typeof t.text === 'string' ? t.text.length : 'none'}`);
    if (t.type === 'plain_text' && 'verbatim' in (t as object)) problems.push(`${where}: verbatim on plain_text`);
  };
  const ids = new Set<string>();
  blocks.forEach((block: Record<string, unknown>, i) => {
    const where = `blocks[${i}]`;
    if (typeof block.block_id === 'string') {
      if (ids.has(block.block_id)) problems.push(`${where}: duplicate block_id`);
      ids.add(block.block_id);
    }
    switch (block.type) {
      case 'section':
        text(block.text, `${where}.text`);
        break;
      case 'context': {
        const elements = block.elements as unknown[];
        if (!Array.isArray(elements) || elements.length < 1 || elements.length > 10) problems.push(`${where}: context needs 1–10 elements`);
        else elements.forEach((e, j) => text(e, `${where}.elements[${j}]`));
        break;
      }
      case 'actions': {
        const elements = block.elements as Array<Record<string, unknown>>;
        if (!Array.isArray(elements) || elements.length < 1 || elements.length > 25) problems.push(`${where}: actions needs 1–25 elements`);
        else
          elements.forEach((e, j) => {
            if (e.type === 'button') {
              text(e.text, `${where}.elements[${j}].text`);
              if (typeof e.action_id !== 'string' || (typeof e.value === 'string' && e.value.length > 2000)) problems.push(`${where}.elements[${j}]: button`);
            } else if (e.type === 'checkboxes') {
              const options = e.options as unknown[];
              if (!Array.isArray(options) || options.length < 1 || options.length > 10) problems.push(`${where}.elements[${j}]: checkboxes need 1–10 options`);
            } else problems.push(`${where}.elements[${j}]: element ${String(e.type)}`);
          });
        break;
      }
      case 'input':
      case 'divider':
      case 'header':
        break;
      default:
        problems.push(`${where}: block type ${String(block.type)}`);
    }
  });
  return problems;
}

/** Every text of a block list, in order. */
function blockTexts(blocks: Array<Record<string, unknown>>): string[] {
  const out: string[] = [];
  for (const block of blocks) {
    if (block.text) out.push((block.text as { text: string }).text);
    for (const element of (block.elements as Array<Record<string, unknown>> | undefined) ?? []) {
      if (typeof element.text === 'string') out.push(element.text);
      else if (element.text) out.push((element.text as { text: string }).text);
    }
  }
  return out;
}

export async function startFakeSlack(options: { token?: string; signingSecret?: string; channels?: string[] } = {}): Promise<FakeSlack> {
  const token = options.token ?? 'xoxb-fake-slack-token';
  const signingSecret = options.signingSecret ?? 'fake-slack-signing-secret';
  const botUser = 'U0COUNTBOT';
  const calls: RecordedSlackCall[] = [];
  const invalid: string[] = [];
  const messages: FakeSlackMessage[] = [];
  const ephemerals: FakeSlack['ephemerals'] = [];
  const views: FakeSlack['views'] = [];
  const channels = new Map((options.channels ?? ['C0APPROVE']).map((id) => [id, { is_member: true, is_archived: false }]));
  const failures = new Map<string, Failure[]>();
  const clock = 1_700_000_000;
  let seq = 0;
  const nextTs = () => `${clock + Math.floor(++seq / 1000)}.${String(seq % 1_000_000).padStart(6, '0')}`;
  let viewSeq = 0;
  let eventSeq = 0;

  const find = (channel: string, ts: string) => messages.find((m) => m.channel === channel && m.ts === ts);

  type Answer = { status?: number; headers?: Record<string, string>; body: Record<string, unknown> };
  const fail = (error: string): Answer => ({ body: { ok: false, error } });
  const check = (method: string, problems: string[]): Answer | undefined => {
    if (problems.length === 0) return undefined;
    invalid.push(`${method}: ${problems.join('; ')}`);
    return fail(problems.some((p) => p.startsWith('blocks')) ? 'invalid_blocks' : 'invalid_arguments');
  };
  // The client sends objects and arrays as JSON strings; everything else (a ts like `1700000000.000120`) stays a string.
  const json = (value: unknown) => {
    if (typeof value !== 'string' || !/^[[{]/.test(value)) return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return undefined;
    }
  };

  const methods: Record<string, (args: Record<string, string>) => Answer> = {
    'chat.postMessage'(args) {
      const blocks = args.blocks === undefined ? undefined : json(args.blocks);
      const problems = [
        ...(CHANNEL.test(args.channel ?? '') ? [] : ['channel is not a channel id']),
        // Slack asks for `text` with blocks: it is the notification and the screen reader's text.
        ...(typeof args.text === 'string' && args.text.length > 0 ? [] : ['text fallback missing']),
        ...(args.text && args.text.length > 40_000 ? ['text over 40,000 characters'] : []),
        ...(blocks === undefined ? [] : blockProblems(blocks)),
        ...(args.thread_ts !== undefined && !TS.test(args.thread_ts) ? ['thread_ts is not a ts'] : []),
      ];
      const bad = check('chat.postMessage', problems);
      if (bad) return bad;
      if (!channels.has(args.channel!)) return fail('channel_not_found');
      if (args.thread_ts && !find(args.channel!, args.thread_ts)) return fail('thread_not_found');
      const message: FakeSlackMessage = {
        channel: args.channel!,
        ts: nextTs(),
        user: botUser,
        bot_id: 'B0COUNTER1',
        text: args.text!,
        blocks: (blocks as FakeSlackMessage['blocks'] | undefined) ?? [],
        ...(args.thread_ts ? { thread_ts: args.thread_ts } : {}),
        ...(args.metadata ? { metadata: json(args.metadata) as FakeSlackMessage['metadata'] } : {}),
      };
      messages.push(message);
      return { body: { ok: true, channel: message.channel, ts: message.ts, message: { type: 'message', text: message.text, user: botUser, ts: message.ts, bot_id: message.bot_id } } };
    },
    'chat.update'(args) {
      const blocks = args.blocks === undefined ? undefined : json(args.blocks);
      const bad = check('chat.update', [
        ...(CHANNEL.test(args.channel ?? '') ? [] : ['channel is not a channel id']),
        ...(TS.test(args.ts ?? '') ? [] : ['ts is not a message ts']),
        ...(typeof args.text === 'string' && args.text.length > 0 ? [] : ['text fallback missing']),
        ...(blocks === undefined ? [] : blockProblems(blocks)),
      ]);
      if (bad) return bad;
      const message = find(args.channel!, args.ts!);
      if (!message) return fail('message_not_found');
      if (message.user !== botUser) return fail('cant_update_message');
      message.text = args.text!;
      if (blocks) message.blocks = blocks as FakeSlackMessage['blocks'];
      return { body: { ok: true, channel: message.channel, ts: message.ts, text: message.text } };
    },
    'chat.postEphemeral'(args) {
      const bad = check('chat.postEphemeral', [
        ...(CHANNEL.test(args.channel ?? '') ? [] : ['channel is not a channel id']),
        ...(USER.test(args.user ?? '') ? [] : ['user is not a user id']),
        ...(typeof args.text === 'string' && args.text.length > 0 ? [] : ['text missing']),
      ]);
      if (bad) return bad;
      if (!channels.has(args.channel!)) return fail('channel_not_found');
      ephemerals.push({ channel: args.channel!, user: args.user!, text: args.text! });
      return { body: { ok: true, message_ts: nextTs() } };
    },
    'views.open'(args) {
      const view = json(args.view) as Record<string, unknown> | undefined;
      const bad = check('views.open', [
        ...(typeof args.trigger_id === 'string' && args.trigger_id.length > 0 ? [] : ['trigger_id missing']),
        ...(view?.type === 'modal' ? [] : ['view is not a modal']),
        ...(view && (view.title as { type?: string } | undefined)?.type === 'plain_text' ? [] : ['view.title must be plain_text']),
        ...(view ? blockProblems(view.blocks) : []),
        ...(typeof view?.private_metadata === 'string' && view.private_metadata.length > 3000 ? ['private_metadata over 3,000 characters'] : []),
      ]);
      if (bad) return bad;
      const id = `V0VIEW${String(++viewSeq).padStart(4, '0')}`;
      views.push({ id, trigger_id: args.trigger_id!, view: view! });
      return { body: { ok: true, view: { id, ...view } } };
    },
    'conversations.info'(args) {
      const channel = channels.get(args.channel ?? '');
      if (!channel) return fail('channel_not_found');
      return { body: { ok: true, channel: { id: args.channel, name: 'ai-approvals', is_channel: true, is_private: false, ...channel } } };
    },
    'conversations.replies'(args) {
      if (!channels.has(args.channel ?? '')) return fail('channel_not_found');
      const parent = find(args.channel!, args.ts ?? '');
      if (!parent) return fail('thread_not_found');
      const replies = messages.filter((m) => m.channel === parent.channel && m.thread_ts === parent.ts);
      return { body: { ok: true, has_more: false, messages: [parent, ...replies].map(({ blocks: _blocks, metadata: _metadata, ...m }) => ({ type: 'message', ...m })) } };
    },
    'conversations.history'(args) {
      if (!channels.has(args.channel ?? '')) return fail('channel_not_found');
      const oldest = Number(args.oldest ?? 0);
      const all = args.include_all_metadata === 'true';
      const found = messages.filter((m) => m.channel === args.channel && !m.thread_ts && Number(m.ts) >= oldest).reverse();
      return { body: { ok: true, has_more: false, messages: found.map(({ metadata, ...m }) => ({ type: 'message', ...m, ...(all && metadata ? { metadata } : {}) })) } };
    },
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0]!;
      const args = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      const send = (answer: Answer) => {
        const status = answer.status ?? 200;
        calls.push({ method, args: Object.fromEntries(Object.entries(args).map(([k, v]) => [k, json(v) ?? v])), ok: answer.body.ok === true, ...(typeof answer.body.error === 'string' ? { error: answer.body.error } : {}), status, at: Date.now() });
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...answer.headers });
        res.end(JSON.stringify(answer.body));
      };
      if (req.method !== 'POST') return send({ status: 405, body: { ok: false, error: 'method_not_allowed' } });
      if (req.headers.authorization !== `Bearer ${token}`) return send(fail(req.headers.authorization ? 'invalid_auth' : 'not_authed'));
      const failure = failures.get(method)?.shift();
      if (failure) {
        if ('error' in failure) return send(fail(failure.error));
        if (failure.status === 429) return send({ status: 429, headers: { 'retry-after': String(failure.retryAfter) }, body: { ok: false, error: 'ratelimited' } });
        return send({ status: 500, body: { ok: false, error: 'internal_error' } });
      }
      const handler = methods[method];
      if (!handler) return send(fail('unknown_method'));
      send(handler(args));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;

  const sign = (body: string, signOptions: { timestamp?: number; secret?: string } = {}): SignedRequest => ({
    body,
    headers: signSlackRequest(body, signOptions.secret ?? signingSecret, signOptions.timestamp ?? Date.now() / 1000),
  });
  const form = (payload: unknown) => `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const event = (message: FakeSlackMessage) => {
    const payload = slackFixtures.messageThreadReply();
    payload.event_id = `Ev0TEST${String(++eventSeq).padStart(5, '0')}`;
    payload.event_time = Math.floor(Date.now() / 1000);
    payload.event = { type: 'message', user: message.user, text: message.text, ts: message.ts, channel: message.channel, event_ts: message.ts, ...(message.thread_ts ? { thread_ts: message.thread_ts, parent_user_id: botUser } : {}) };
    return sign(JSON.stringify(payload));
  };
  const personMessage = (channel: string, user: string, text: string, threadTs?: string): FakeSlackMessage => {
    const message: FakeSlackMessage = { channel, ts: nextTs(), user, text, blocks: [], ...(threadTs ? { thread_ts: threadTs } : {}) };
    messages.push(message);
    return message;
  };

  function submitView(user: string, values: ViewSubmissionPayload['view']['state']['values']): SignedRequest {
    const opened = views.at(-1);
    if (!opened) throw new Error('no modal was opened');
    const payload = slackFixtures.viewSubmission();
    payload.user = { ...payload.user, id: user };
    payload.view = { ...payload.view, id: opened.id, private_metadata: String(opened.view.private_metadata), callback_id: String(opened.view.callback_id), state: { values } };
    return sign(form(payload));
  }

  return {
    url,
    token,
    signingSecret,
    serverEnv: { SLACK_BOT_TOKEN: token, SLACK_SIGNING_SECRET: signingSecret, SLACK_API_URL: url },
    botUser,
    calls,
    invalid,
    messages,
    ephemerals,
    views,
    channels,
    failNext(method, failure) {
      failures.set(method, [...(failures.get(method) ?? []), failure]);
    },
    calledMethods: () => calls.map((call) => call.method),
    messageFor: (approvalId) => messages.find((m) => (m.metadata?.event_payload as { approval_id?: string } | undefined)?.approval_id === approvalId),
    texts: (message) => blockTexts(message.blocks),
    click(message, user, actionId, clickOptions = {}) {
      const payload = slackFixtures.blockActions();
      const button = message.blocks.flatMap((block) => ((block.elements as Array<Record<string, unknown>> | undefined) ?? []).map((element) => ({ block, element }))).find(({ element }) => element.action_id === actionId);
      if (!button) throw new Error(`message ${message.ts} has no ${actionId} button`);
      payload.user = { ...payload.user, id: user, username: user.toLowerCase(), name: user.toLowerCase() };
      payload.container = { ...payload.container, channel_id: message.channel, message_ts: message.ts };
      payload.channel = { ...payload.channel, id: message.channel };
      payload.message = { ...payload.message, ts: message.ts, text: message.text, blocks: message.blocks };
      payload.trigger_id = `${Date.now()}.${++eventSeq}.trigger`;
      payload.actions = [{ action_id: actionId, block_id: String(button.block.block_id), value: String(button.element.value), type: 'button', action_ts: clickOptions.actionTs ?? `${Math.floor(Date.now() / 1000)}.${String(++eventSeq).padStart(6, '0')}` }];
      // The checkboxes' current state, as Slack reports it with every block action.
      payload.state = { values: {} };
      for (const block of message.blocks) {
        const box = ((block.elements as Array<Record<string, unknown>> | undefined) ?? []).find((e) => e.type === 'checkboxes');
        if (!box) continue;
        const options = (box.options as Array<{ value: string }>).filter((option) => !clickOptions.unticked?.includes(option.value));
        payload.state.values[String(block.block_id)] = { [String(box.action_id)]: { type: 'checkboxes', selected_options: options.map((o) => ({ value: o.value })) } };
      }
      clickOptions.edit?.(payload);
      return sign(form(payload));
    },
    submitReject: (user, reason) => submitView(user, { reason: { reason_input: { type: 'plain_text_input', value: reason } } }),
    submitView,
    reply: (message, user, text) => event(personMessage(message.channel, user, text, message.ts)),
    say: (channel, user, text) => event(personMessage(channel, user, text)),
    replyUnseen(message, user, text) {
      personMessage(message.channel, user, text, message.ts);
    },
    urlVerification() {
      const payload = slackFixtures.urlVerification();
      return { ...sign(JSON.stringify(payload)), challenge: payload.challenge };
    },
    sign,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
