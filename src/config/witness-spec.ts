/**
 * Where signed checkpoints are also published, outside the database (`AUDIT_WITNESS`, and
 * `audit verify --witness`): comma-separated specs, each one of
 *
 *     dir:/var/lib/countersign-witness      a directory; one new file per checkpoint, never rewritten
 *     github:acme/audit#12                  comments on issue 12 of acme/audit
 *     slack:C0123ABCD                       a Slack channel (parsed here; the server refuses it until Slack exists)
 */
export type WitnessSpec =
  | { kind: 'dir'; spec: string; path: string }
  | { kind: 'github'; spec: string; owner: string; repo: string; issue: number }
  | { kind: 'slack'; spec: string; channel: string };

const GITHUB = /^([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))\/([A-Za-z0-9._-]{1,100})#([1-9][0-9]{0,9})$/;
const SLACK_CHANNEL = /^[CGD][A-Z0-9]{8,}$/;

/** Parses one spec; throws an Error whose message says what a good one looks like. */
export function parseWitnessSpec(text: string): WitnessSpec {
  const spec = text.trim();
  const colon = spec.indexOf(':');
  const kind = colon < 0 ? '' : spec.slice(0, colon);
  const rest = spec.slice(colon + 1);
  switch (kind) {
    case 'dir':
      if (!rest.startsWith('/')) throw new Error(`"${spec}": dir: needs an absolute path, e.g. dir:/var/lib/countersign-witness`);
      return { kind: 'dir', spec, path: rest };
    case 'github': {
      const match = GITHUB.exec(rest);
      if (!match) throw new Error(`"${spec}": expected github:OWNER/REPO#ISSUE, e.g. github:acme/audit#12`);
      return { kind: 'github', spec, owner: match[1]!, repo: match[2]!, issue: Number(match[3]) };
    }
    case 'slack':
      if (!SLACK_CHANNEL.test(rest)) throw new Error(`"${spec}": expected slack:CHANNEL_ID, e.g. slack:C0123ABCD (the channel's id, not its name)`);
      return { kind: 'slack', spec, channel: rest };
    default:
      throw new Error(`"${spec}": expected dir:/PATH, github:OWNER/REPO#ISSUE or slack:CHANNEL_ID`);
  }
}

/** Parses a comma-separated list; an empty list is an error (unset the variable instead). */
export function parseWitnessSpecs(text: string): WitnessSpec[] {
  const parts = text.split(',').filter((part) => part.trim() !== '');
  if (parts.length === 0) throw new Error('expected at least one of dir:/PATH, github:OWNER/REPO#ISSUE, slack:CHANNEL_ID');
  const specs = parts.map(parseWitnessSpec);
  const seen = new Set<string>();
  for (const spec of specs) {
    if (seen.has(spec.spec)) throw new Error(`"${spec.spec}" is listed twice`);
    seen.add(spec.spec);
  }
  return specs;
}
