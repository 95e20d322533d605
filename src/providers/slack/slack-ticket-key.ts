/** A Slack message as Countersign keeps it in `TicketRef.key`: `CHANNEL:TS`. `chat.update` addresses a message by both. */
export interface SlackMessageRef {
  channel: string;
  ts: string;
}

export const messageKey = (ref: SlackMessageRef) => `${ref.channel}:${ref.ts}`;

export function parseMessageKey(key: string): SlackMessageRef {
  const at = key.indexOf(':');
  if (at <= 0 || at === key.length - 1) throw new Error(`not a Slack message key: ${key}`);
  return { channel: key.slice(0, at), ts: key.slice(at + 1) };
}

/** The message's permalink, built without a `chat.getPermalink` call (Slack redirects it to the workspace). */
export const messageUrl = (ref: SlackMessageRef) => `https://slack.com/archives/${encodeURIComponent(ref.channel)}/p${ref.ts.replace('.', '')}`;
