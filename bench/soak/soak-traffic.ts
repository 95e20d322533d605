import { ulid } from 'ulid';
import { JIRA_REVIEWERS, type SoakStand } from './soak-stand.ts';

/** How the soak's share of requests is decided: by whom, through which channel. */
export type Kind = 'local' | 'quorum' | 'github' | 'jira' | 'escalate' | 'batch';

export const PROJECTS = (github: { owner: string; repo: string }) => [
  { key: 'soak-local', provider: 'local', reviewers: ['alice', 'bob'] },
  { key: 'soak-quorum', provider: 'local', reviewers: ['alice', 'bob', 'carol'], requiredApprovals: 2 },
  { key: 'soak-github', provider: 'github', github, reviewers: ['alice', 'bob'] },
  { key: 'soak-jira', provider: 'jira', jira: { project: 'OPS', issueType: 'Task', approvedStatus: 'Approved', rejectedStatus: 'Rejected' }, reviewers: JIRA_REVIEWERS },
  // Never decided by a person: tier 2 adds carol, then the last tier expires it.
  { key: 'soak-escalate', provider: 'local', reviewers: ['alice'], escalation: [{ after: '4s', reviewers: ['carol'] }, { after: '10s', outcome: 'expire' }] },
  { key: 'soak-batch', provider: 'github', github, reviewers: ['alice'], batching: { when: { risk: ['low'] }, window: '5s', maxItems: 10 } },
];

const PROJECT_OF: Record<Kind, string> = { local: 'soak-local', quorum: 'soak-quorum', github: 'soak-github', jira: 'soak-jira', escalate: 'soak-escalate', batch: 'soak-batch' };
/** Out of every ten requests, by default. */
export const DEFAULT_MIX: Kind[] = ['local', 'local', 'local', 'quorum', 'github', 'github', 'jira', 'jira', 'escalate', 'batch'];
const KINDS = Object.keys(PROJECT_OF) as Kind[];

/** `--mix local:3,quorum:1,github:2,jira:2,escalate:1,batch:1`: how many of each kind in every round of requests. */
export function parseMix(text: string | undefined): Kind[] {
  if (!text) return DEFAULT_MIX;
  const mix = text.split(',').flatMap((part) => {
    const [kind, count = '1'] = part.trim().split(':');
    if (!KINDS.includes(kind as Kind) || !/^\d+$/.test(count)) throw new Error(`--mix: expected kind:count pairs of ${KINDS.join(', ')}, got ${part}`);
    return Array.from({ length: Number(count) }, () => kind as Kind);
  });
  if (mix.length === 0) throw new Error('--mix: no requests');
  return mix;
}

export interface Tracked {
  readonly id: string;
  readonly kind: Kind;
  readonly ackAt: number;
  /** Whether a decider will decide it (a share is left pending, and escalations expire on their own). */
  readonly decide: boolean;
  readonly outcome: 'approve' | 'reject';
  /** When the deciding step was accepted (API 200, webhook 202). */
  decidedAt?: number;
  votes: number;
  attempts: number;
  /** When a decider last looked at it: the least recently looked at go first, so none starves the rest. */
  triedAt: number;
}

/** One delivery of a batch's `approved` label and what the instance answered (the route's JSON). */
export interface BatchAnswer {
  at: number;
  status: number;
  body: unknown;
}

/** A batch the deciders labeled: its delivery's answers, and when one was 2xx. */
export interface BatchLabel {
  issue: number;
  deliveryId: string;
  answers: BatchAnswer[];
  acknowledgedAt?: number;
}

export interface IntakeSample {
  at: number;
  ms: number;
}

export interface Keys {
  agent: string;
  reviewers: Record<string, string>;
}

/**
 * Agents posting intake at `rate` per second, round-robin over the live instances. A refused
 * connection (the instance was just killed) is retried on another with the same
 * `Idempotency-Key`, as an agent behind a load balancer would: only a 202 counts as acknowledged.
 */
export function startAgents(stand: SoakStand, keys: Keys, rate: number, tracked: Map<string, Tracked>, mix: Kind[] = DEFAULT_MIX) {
  const samples: IntakeSample[] = [];
  let unacknowledged = 0;
  let sent = 0;
  let inFlight = 0;
  let stopped = false;
  const flights = new Set<Promise<void>>();

  const post = async (n: number) => {
    const kind = mix[n % mix.length]!;
    const started = Date.now();
    const body = JSON.stringify({
      project: PROJECT_OF[kind],
      action: 'send_email',
      summary: `soak request ${n}`,
      payload: { n, to: 'ops@acme.example' },
      risk: kind === 'batch' ? 'low' : 'medium',
      callbackUrl: stand.receiver.url,
    });
    const idempotencyKey = ulid();
    for (let attempt = 0; Date.now() - started < 60_000; attempt++) {
      const live = stand.live();
      const instance = live[(n + attempt) % Math.max(1, live.length)];
      if (instance) {
        try {
          const response = await fetch(`${instance.url}/v1/approvals`, {
            method: 'POST',
            headers: { authorization: `Bearer ${keys.agent}`, 'content-type': 'application/json', 'idempotency-key': idempotencyKey },
            body,
            signal: AbortSignal.timeout(20_000),
          });
          if (response.status === 202 || response.status === 200) {
            const { id } = (await response.json()) as { id: string };
            const ackAt = Date.now();
            samples.push({ at: started, ms: ackAt - started });
            // Eight in ten of the decidable kinds are decided; one in ten of those is a rejection.
            const decide = kind === 'batch' || (kind !== 'escalate' && n % 5 !== 0);
            tracked.set(id, { id, kind, ackAt, decide, outcome: kind !== 'batch' && n % 10 === 7 ? 'reject' : 'approve', votes: 0, attempts: 0, triedAt: 0 });
            return;
          }
          await response.arrayBuffer();
        } catch {
          // refused or reset: the instance went down under us; the next attempt goes elsewhere
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    unacknowledged += 1;
  };

  const interval = 1000 / rate;
  const begin = Date.now();
  const loop = (async () => {
    while (!stopped) {
      const due = begin + sent * interval;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (stopped) break;
      // A stalled system must not turn into an unbounded pile of open requests in the agent.
      if (inFlight >= 200) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      const n = sent++;
      inFlight += 1;
      const flight = post(n).finally(() => {
        inFlight -= 1;
        flights.delete(flight);
      });
      flights.add(flight);
    }
  })();

  return {
    samples,
    get sent() {
      return sent;
    },
    get unacknowledged() {
      return unacknowledged;
    },
    async stop() {
      stopped = true;
      await loop;
      await Promise.all([...flights]);
    },
  };
}

interface ApprovalState {
  status: string;
  ticket: { key: string } | null;
  batchId: string | null;
}

/**
 * Reviewers deciding what the agents asked, each through its channel: the local API (one or two
 * votes), GitHub label and `/approve` comment webhooks signed like GitHub's, Jira status moves,
 * and a label on a batch's issue. A webhook refused or not answered is delivered again, with the
 * same delivery id, as the providers redeliver.
 */
export function startDeciders(stand: SoakStand, keys: Keys, tracked: Map<string, Tracked>) {
  let stopped = false;
  /** Batches labeled once (never again: a 2xx that did not decide the batch is what the soak looks for). */
  const batchLabels = new Map<string, BatchLabel>();
  const anyInstance = () => {
    const live = stand.live();
    return live[Math.floor(Math.random() * live.length)];
  };
  const get = async <T>(pathname: string, key: string): Promise<T | undefined> => {
    const instance = anyInstance();
    if (!instance) return undefined;
    try {
      const response = await fetch(`${instance.url}${pathname}`, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(10_000) });
      return response.ok ? ((await response.json()) as T) : undefined;
    } catch {
      return undefined;
    }
  };
  /** A POST's status, its JSON answer and, for an error, its `error.code`. */
  const postForCode = async (pathname: string, headers: Record<string, string>, body: string): Promise<{ status: number; code?: string; answer?: unknown }> => {
    const instance = anyInstance();
    if (!instance) return { status: 0, answer: 'no live instance' };
    try {
      const response = await fetch(`${instance.url}${pathname}`, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
      const answer = (await response.json().catch(() => undefined)) as { error?: { code?: string } } | undefined;
      return { status: response.status, answer, ...(answer?.error?.code ? { code: answer.error.code } : {}) };
    } catch (error) {
      return { status: 0, answer: (error as Error).message };
    }
  };
  const pendingDeliveries = new Map<string, { path: string; headers: Record<string, string>; body: string; items: Tracked[]; batch?: BatchLabel }>();

  const deliver = async (id: string) => {
    const delivery = pendingDeliveries.get(id)!;
    const { status, answer } = await postForCode(delivery.path, delivery.headers, delivery.body);
    const ok = status >= 200 && status < 300;
    if (delivery.batch) {
      delivery.batch.answers.push({ at: Date.now(), status, body: answer });
      if (ok) delivery.batch.acknowledgedAt = Date.now();
    }
    if (ok) {
      pendingDeliveries.delete(id);
      for (const item of delivery.items) item.decidedAt ??= Date.now();
    }
  };

  const decideOne = async (item: Tracked) => {
    item.attempts += 1;
    if (item.kind === 'local' || item.kind === 'quorum') {
      const reviewer = ['alice', 'bob'][item.votes]!;
      const { status, code } = await postForCode(`/v1/approvals/${item.id}/decision`, { authorization: `Bearer ${keys.reviewers[reviewer]}`, 'content-type': 'application/json' }, JSON.stringify({ outcome: item.outcome }));
      // 200 once decided, 202 for a vote counted towards M-of-N; `already_voted`: this reviewer's
      // vote was counted, but its answer was lost (a killed instance, a timeout): the next reviewer's turn.
      if (status === 200 || status === 202 || code === 'already_voted') {
        item.votes += 1;
        if (item.kind === 'local' || item.votes === 2 || item.outcome === 'reject') item.decidedAt = Date.now();
      } else if (status === 409) {
        item.decidedAt ??= Date.now(); // decided already (an earlier answer was lost with its instance)
      }
      return;
    }
    const approval = await get<ApprovalState>(`/v1/approvals/${item.id}`, keys.agent);
    if (!approval) return;
    if (approval.status !== 'pending') {
      item.decidedAt ??= Date.now();
      return;
    }
    if (item.kind === 'batch') {
      if (!approval.batchId) return;
      const labeled = batchLabels.get(approval.batchId);
      if (labeled) {
        // The label was acknowledged: from then on the item counts as decided by a reviewer, so
        // still pending at the end it is a lost decision (`decisionsLost`), with its batch's answers.
        if (labeled.acknowledgedAt !== undefined) item.decidedAt ??= labeled.acknowledgedAt;
        return;
      }
      const batch = await get<{ status: string; ticket: { key: string } | null }>(`/v1/batches/${approval.batchId}`, keys.agent);
      if (!batch?.ticket || batchLabels.has(approval.batchId)) return;
      const issue = Number(batch.ticket.key.split('#')[1]);
      const delivery = stand.github.label(issue, 'approved', 'alice');
      const label: BatchLabel = { issue, deliveryId: delivery.id, answers: [] };
      batchLabels.set(approval.batchId, label);
      pendingDeliveries.set(delivery.id, { path: '/webhooks/github', headers: githubHeaders(delivery, await stand.github.sign(delivery.body)), body: delivery.body, items: [], batch: label });
      await deliver(delivery.id);
      return;
    }
    if (!approval.ticket) return;
    if (item.kind === 'github') {
      const issue = Number(approval.ticket.key.split('#')[1]);
      const delivery =
        item.outcome === 'reject' ? stand.github.comment(issue, '/reject not this time', 'bob') : item.attempts % 2 === 0 ? stand.github.comment(issue, '/approve', 'alice') : stand.github.label(issue, 'approved', 'alice');
      pendingDeliveries.set(delivery.id, { path: '/webhooks/github', headers: githubHeaders(delivery, await stand.github.sign(delivery.body)), body: delivery.body, items: [item] });
      await deliver(delivery.id);
    } else if (item.kind === 'jira') {
      const delivery = stand.jira.transition(approval.ticket.key, item.outcome === 'reject' ? 'Rejected' : 'Approved', JIRA_REVIEWERS[0]!);
      pendingDeliveries.set(delivery.id, { path: '/webhooks/jira', headers: stand.jira.headers(delivery), body: delivery.body, items: [item] });
      await deliver(delivery.id);
    }
  };

  const inProgress = new Set<string>();
  const loop = (async () => {
    while (!stopped) {
      await Promise.all([...pendingDeliveries.keys()].slice(0, 20).map(deliver));
      const waiting = new Set([...pendingDeliveries.values()].flatMap((d) => d.items));
      // Least recently looked at first: taken in arrival order, twenty items that never move on
      // (a batch whose label did nothing, a ticket that never opens) held the deciders' every
      // round and nothing newer was decided again (the full run of issue 19 from 500 s on).
      const due = [...tracked.values()]
        .filter((t) => t.decide && t.decidedAt === undefined && !inProgress.has(t.id) && Date.now() - t.ackAt > 1500 && !waiting.has(t))
        .sort((a, b) => a.triedAt - b.triedAt);
      await Promise.all(
        due.slice(0, 20).map(async (item) => {
          item.triedAt = Date.now();
          inProgress.add(item.id);
          await decideOne(item).finally(() => inProgress.delete(item.id));
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  })();
  return {
    /** Every batch labeled, by id: its label delivery's answers. */
    batchLabels,
    /** Deliveries still to be redelivered. */
    get undelivered() {
      return pendingDeliveries.size;
    },
    async stop() {
      stopped = true;
      await loop;
    },
  };
}

const githubHeaders = (delivery: { event: string; id: string }, signature: string) => ({
  'content-type': 'application/json',
  'x-github-event': delivery.event,
  'x-github-delivery': delivery.id,
  'x-hub-signature-256': signature,
});
