import type { WitnessStore } from '../../audit/witness/witness-store.ts';
import type { SlackWebLike } from './slack-client.ts';

/** The metadata that marks Countersign's checkpoint messages: people's messages in the channel are left alone. */
const CHECKPOINT_EVENT = 'countersign_audit_checkpoint';
/** How far back a publish looks for the same checkpoint (a retry after the post was made but its answer lost). */
const RECENT = 200;

/**
 * Checkpoints as messages in one Slack channel (`AUDIT_WITNESS=slack:C…`): each signed note is
 * carried in the message's metadata, which only an app can attach, and shown as text for people.
 * `audit verify --witness` reads the whole channel history back. Keep the channel to the few
 * people who should see it; nobody in it can alter a message the app posted.
 */
export function createSlackWitness(spec: string, client: SlackWebLike, channel: string): WitnessStore {
  const checkpointsIn = (messages: ReadonlyArray<{ ts?: string; metadata?: { event_type?: string; event_payload?: unknown } }>) =>
    messages.flatMap((message) => {
      if (message.metadata?.event_type !== CHECKPOINT_EVENT || !message.ts) return [];
      const note = (message.metadata.event_payload as { note?: unknown } | undefined)?.note;
      // A marked message whose note cannot be read is still named: verify then fails on it.
      return [{ name: `${spec}/${message.ts}`, note: typeof note === 'string' ? note : '' }];
    });
  return {
    spec,
    async publish({ treeSize, note }) {
      const recent = await client.conversations.history({ channel, include_all_metadata: true, limit: RECENT });
      if (checkpointsIn(recent.messages ?? []).some((held) => held.note === note)) return;
      await client.chat.postMessage({
        channel,
        text: `Countersign audit checkpoint, tree size ${treeSize}. \`countersign audit verify --witness ${spec}\` reads these messages.\n\`\`\`${note}\`\`\``,
        unfurl_links: false,
        metadata: { event_type: CHECKPOINT_EVENT, event_payload: { tree_size: treeSize, note } },
      });
    },
    async read() {
      const held: Array<{ name: string; note: string }> = [];
      let cursor: string | undefined;
      do {
        const page = await client.conversations.history({ channel, include_all_metadata: true, limit: RECENT, ...(cursor ? { cursor } : {}) });
        held.push(...checkpointsIn(page.messages ?? []));
        cursor = page.response_metadata?.next_cursor || undefined;
      } while (cursor);
      return held.reverse();
    },
  };
}
