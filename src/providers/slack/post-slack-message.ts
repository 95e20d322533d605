import type { SlackWebLike } from './slack-client.ts';
import { escapeSlack } from './slack-text.ts';

/**
 * Posts plain text to a Slack channel with the shared client. `&`, `<` and `>` are escaped, so
 * the text mentions no one and links nothing it does not show; links are not unfurled.
 *
 * @example await postSlackMessage(client, 'C0123ABCD', 'Audit log verified: 1,204 records, no gaps')
 */
export async function postSlackMessage(client: SlackWebLike, channel: string, text: string): Promise<{ channel: string; ts: string }> {
  const posted = await client.chat.postMessage({ channel, text: escapeSlack(text), unfurl_links: false, unfurl_media: false });
  if (!posted.ts) throw new Error('chat.postMessage answered without a ts');
  return { channel: posted.channel ?? channel, ts: posted.ts };
}
