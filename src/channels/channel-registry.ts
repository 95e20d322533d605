import type { ProjectMapping } from '../projects/mapping-schema.ts';
import type { NotificationChannel } from './notification-channel.ts';

/** The notification channels this server runs (Slack, email), from its configuration. */
export interface ChannelRegistry {
  readonly all: readonly NotificationChannel[];
  get(name: string): NotificationChannel | undefined;
  /** The channels that show `project`'s approvals. */
  for(project: ProjectMapping): NotificationChannel[];
}

export function createChannelRegistry(channels: readonly NotificationChannel[]): ChannelRegistry {
  const byName = new Map(channels.map((channel) => [channel.name, channel]));
  if (byName.size !== channels.length) throw new Error(`two notification channels share a name: ${channels.map((c) => c.name).join(', ')}`);
  return {
    all: channels,
    get: (name) => byName.get(name),
    for: (project) => channels.filter((channel) => channel.appliesTo(project)),
  };
}
