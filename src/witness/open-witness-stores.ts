import type { Logger } from 'pino';
import { createDirWitness } from '../audit/witness/dir-witness.ts';
import { createGitHubWitness } from '../audit/witness/github-witness.ts';
import type { WitnessStore } from '../audit/witness/witness-store.ts';
import type { Config } from '../config/config.ts';
import type { WitnessSpec } from '../config/witness-spec.ts';
import { CountersignError } from '../primitives/errors.ts';

export type OpenedWitness = WitnessStore & { local: boolean };

/**
 * The witness stores of `specs`, for the server (publishing) and for `audit verify --witness`
 * (reading). GitHub's comes over the provider's own Octokit client, loaded only when needed.
 */
export async function openWitnessStores(specs: readonly WitnessSpec[], github: Config['github'], logger: Logger, slack?: Config['slack']): Promise<OpenedWitness[]> {
  const stores: OpenedWitness[] = [];
  for (const spec of specs) {
    switch (spec.kind) {
      case 'dir':
        stores.push({ ...createDirWitness(spec.spec, spec.path), local: true });
        break;
      case 'github': {
        if (!github) throw new CountersignError(400, 'witness_unavailable', `${spec.spec}: needs GitHub credentials (GITHUB_TOKEN or a GitHub App, and GITHUB_WEBHOOK_SECRET) to read or write the issue`);
        const [{ createGitHubClient }, { createGitHubIssueComments }] = await Promise.all([import('../providers/github/github-client.ts'), import('../providers/github/github-issue-comments.ts')]);
        const comments = createGitHubIssueComments(createGitHubClient(github, { logger }), spec);
        stores.push({ ...createGitHubWitness(spec.spec, comments), local: false });
        break;
      }
      case 'slack': {
        if (!slack) throw new CountersignError(400, 'witness_unavailable', `${spec.spec}: needs Slack settings (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET) to read or write the channel`);
        const [{ createSlackClient }, { createSlackWitness }] = await Promise.all([import('../providers/slack/slack-client.ts'), import('../providers/slack/slack-witness.ts')]);
        stores.push({ ...createSlackWitness(spec.spec, createSlackClient(slack, { logger }), spec.channel), local: false });
        break;
      }
    }
  }
  return stores;
}
