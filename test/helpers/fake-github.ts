import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { WebhookDefinition } from '@octokit/webhooks-examples';
import { Webhooks } from '@octokit/webhooks';
import { Ajv, type ValidateFunction } from 'ajv';
import subset from '../fixtures/github-openapi-subset.json' with { type: 'json' };
import closedExample from '../fixtures/github-webhooks/issues.closed.json' with { type: 'json' };

/**
 * A local server that plays the GitHub REST API for the calls Countersign makes. It records
 * every call, checks each request body (and query parameter names) against GitHub's published
 * OpenAPI description (test/fixtures/github-openapi-subset.json, from @octokit/openapi), answers
 * 422 to an invalid one, and keeps issues, labels, comments and events in memory. Tests act as
 * people through `label`, `comment` and `close`, which return the webhook a real GitHub would send.
 */

interface Operation {
  method: string;
  path: string;
  query: string[];
  requestBody?: { required: boolean; schema: { properties?: Record<string, unknown> } };
}

export interface RecordedCall {
  operationId: string;
  method: string;
  path: string;
  body: unknown;
  status: number;
}

export interface FakeIssue {
  number: number;
  title: string;
  body: string;
  labels: string[];
  assignees: string[];
  state: 'open' | 'closed';
  state_reason: string | null;
  user: string;
  comments: { id: number; body: string; user: string; created_at: string }[];
  events: { id: number; event: string; actor: string; created_at: string; label?: string; state_reason?: string | null }[];
  created_at: string;
  updated_at: string;
}

export interface Delivery {
  event: string;
  id: string;
  body: string;
}

type Failure = { status: number; headers?: Record<string, string>; body: unknown };

export interface FakeGitHub {
  readonly url: string;
  /** The settings a Countersign server needs to use this fake: token, API URL, webhook secret. */
  readonly serverEnv: Readonly<Record<'GITHUB_TOKEN' | 'GITHUB_API_URL' | 'GITHUB_WEBHOOK_SECRET', string>>;
  readonly owner: string;
  readonly repo: string;
  readonly selfLogin: string;
  readonly calls: RecordedCall[];
  readonly invalid: string[];
  readonly issues: Map<number, FakeIssue>;
  /** The next matching request gets this answer instead (once). */
  failNext(operationId: string, failure: Failure): void;
  /** Calls made since `mark` (an index into `calls`), optionally only writes. */
  callsSince(mark: number, options?: { writes?: boolean }): RecordedCall[];
  /** A person adds a label; returns the `issues.labeled` webhook. */
  label(issueNumber: number, label: string, actor: string): Delivery;
  /** A person comments; returns the `issue_comment.created` webhook. */
  comment(issueNumber: number, body: string, actor: string): Delivery;
  /** `actor` edits the issue's body on github.com (`issues.edited`, with `changes.body.from`). */
  editBody(issueNumber: number, body: string, actor: string): Delivery;
  /** A person closes the issue; returns the `issues.closed` webhook. */
  close(issueNumber: number, actor: string, stateReason: 'completed' | 'not_planned'): Delivery;
  /** A webhook for an issue Countersign did not open. */
  foreignLabel(actor: string, label: string): Delivery;
  sign(body: string): Promise<string>;
  stop(): Promise<void>;
}

// The package's main is a JSON file; require reads it without an import attribute.
const examples = createRequire(import.meta.url)('@octokit/webhooks-examples') as WebhookDefinition[];
const operations = subset.operations as unknown as Record<string, Operation>;
const ajv = new Ajv({ strict: false, allErrors: true });
const routes = Object.entries(operations).map(([id, op]) => ({
  id,
  op,
  regex: new RegExp(`^${op.path.replace(/\{[^}]+\}/g, '([^/]+)')}$`),
  validate: op.requestBody ? (ajv.compile(op.requestBody.schema) as ValidateFunction) : undefined,
}));

const exampleOf = (name: string, action: string) => {
  const definition = examples.find((d) => d.name === name)!;
  return structuredClone(definition.examples.find((e) => (e as { action?: string }).action === action && !(e as { issue?: { pull_request?: unknown } }).issue?.pull_request)) as Record<string, unknown>;
};

/**
 * `token`: when set, a request without `Authorization: token <token>` (or `bearer`) is answered
 * 401, as GitHub answers a revoked or mistyped token. A repository other than owner/repo is 404.
 */
export async function startFakeGitHub(options: { secret: string; owner?: string; repo?: string; selfLogin?: string; token?: string }): Promise<FakeGitHub> {
  const owner = options.owner ?? 'acme';
  const repo = options.repo ?? 'approvals';
  const selfLogin = options.selfLogin ?? 'countersign-bot';
  const webhooks = new Webhooks({ secret: options.secret });
  const calls: RecordedCall[] = [];
  const invalid: string[] = [];
  const issues = new Map<number, FakeIssue>();
  const failures = new Map<string, Failure[]>();
  let nextNumber = 1;
  let nextId = 1000;
  let deliveries = 0;
  let url = '';
  const now = () => new Date().toISOString();

  const issueJson = (issue: FakeIssue) => ({
    id: issue.number + 5000,
    node_id: `I_${issue.number}`,
    number: issue.number,
    url: `${url}/repos/${owner}/${repo}/issues/${issue.number}`,
    html_url: `https://github.example/${owner}/${repo}/issues/${issue.number}`,
    title: issue.title,
    body: issue.body,
    state: issue.state,
    state_reason: issue.state_reason,
    labels: issue.labels.map((name, i) => ({ id: i + 1, name, color: 'ededed', default: false, description: null })),
    assignees: issue.assignees.map((login) => ({ login })),
    user: { login: issue.user, type: issue.user.endsWith('[bot]') ? 'Bot' : 'User' },
    comments: issue.comments.length,
    created_at: issue.created_at,
    updated_at: issue.updated_at,
    closed_at: issue.state === 'closed' ? issue.updated_at : null,
    locked: false,
    author_association: 'OWNER',
  });
  const touch = (issue: FakeIssue) => (issue.updated_at = now());
  // As on GitHub, the event and the issue's updated_at carry one time.
  const event = (issue: FakeIssue, e: Omit<FakeIssue['events'][number], 'id' | 'created_at'>) => {
    const at = now();
    issue.events.push({ id: nextId++, created_at: at, ...e });
    issue.updated_at = at;
  };

  function handle(id: string, params: string[], query: URLSearchParams, body: Record<string, unknown>): [number, unknown] {
    const issue = params[2] ? issues.get(Number(params[2])) : undefined;
    const needIssue = (): FakeIssue => {
      if (!issue) throw Object.assign(new Error('Not Found'), { status: 404 });
      return issue;
    };
    switch (id) {
      case 'users/get-authenticated':
        return [200, { login: selfLogin, id: 1, type: 'User' }];
      case 'apps/get-authenticated':
        return [200, { slug: selfLogin.replace(/\[bot\]$/, ''), id: 1 }];
      case 'issues/create': {
        const created: FakeIssue = {
          number: nextNumber++,
          title: String(body.title),
          body: String(body.body ?? ''),
          labels: (body.labels as string[] | undefined) ?? [],
          assignees: (body.assignees as string[] | undefined) ?? [],
          state: 'open',
          state_reason: null,
          user: selfLogin,
          comments: [],
          events: [],
          created_at: now(),
          updated_at: now(),
        };
        issues.set(created.number, created);
        return [201, issueJson(created)];
      }
      case 'issues/get':
        return [200, issueJson(needIssue())];
      case 'issues/update': {
        const target = needIssue();
        if (body.labels) {
          const next = body.labels as string[];
          for (const name of target.labels.filter((l) => !next.includes(l))) event(target, { event: 'unlabeled', actor: selfLogin, label: name });
          for (const name of next.filter((l) => !target.labels.includes(l))) event(target, { event: 'labeled', actor: selfLogin, label: name });
          target.labels = [...next];
        }
        if (typeof body.body === 'string') {
          target.body = body.body;
          touch(target);
        }
        if (body.state && body.state !== target.state) {
          target.state = body.state as 'open' | 'closed';
          target.state_reason = target.state === 'closed' ? ((body.state_reason as string | undefined) ?? 'completed') : 'reopened';
          event(target, { event: target.state === 'closed' ? 'closed' : 'reopened', actor: selfLogin, state_reason: target.state_reason });
        }
        touch(target);
        return [200, issueJson(target)];
      }
      case 'issues/list-for-repo': {
        let list = [...issues.values()];
        const state = query.get('state') ?? 'open';
        if (state !== 'all') list = list.filter((i) => i.state === state);
        const creator = query.get('creator');
        if (creator) list = list.filter((i) => i.user === creator);
        const labels = query.get('labels');
        if (labels) list = list.filter((i) => labels.split(',').every((l) => i.labels.includes(l)));
        const since = query.get('since');
        if (since) list = list.filter((i) => i.updated_at >= since);
        const key = query.get('sort') === 'updated' ? 'updated_at' : 'created_at';
        list.sort((a, b) => (a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : a.number - b.number));
        if ((query.get('direction') ?? 'desc') === 'desc') list.reverse();
        const perPage = Number(query.get('per_page') ?? 30);
        const page = Number(query.get('page') ?? 1);
        return [200, list.slice((page - 1) * perPage, page * perPage).map(issueJson)];
      }
      case 'issues/create-comment': {
        const target = needIssue();
        target.comments.push({ id: nextId++, body: String(body.body), user: selfLogin, created_at: now() });
        touch(target);
        return [201, { id: nextId - 1, body: body.body, user: { login: selfLogin } }];
      }
      case 'issues/list-comments': {
        const since = query.get('since');
        const target = needIssue();
        const list = target.comments.filter((c) => !since || c.created_at >= since);
        // Paged as GitHub pages it (30 a page unless per_page says otherwise, at most 100).
        const perPage = Math.min(100, Number(query.get('per_page') ?? 30));
        const page = Number(query.get('page') ?? 1);
        const html = (id: number) => `https://github.example/${owner}/${repo}/issues/${target.number}#issuecomment-${id}`;
        return [200, list.slice((page - 1) * perPage, page * perPage).map((c) => ({ id: c.id, html_url: html(c.id), body: c.body, user: { login: c.user }, created_at: c.created_at, updated_at: c.created_at }))];
      }
      case 'issues/list-events':
        return [
          200,
          needIssue().events.map((e) => ({ id: e.id, event: e.event, actor: { login: e.actor }, created_at: e.created_at, ...(e.label ? { label: { name: e.label, color: 'ededed' } } : {}), state_reason: e.state_reason ?? null })),
        ];
      case 'issues/add-labels': {
        const target = needIssue();
        for (const name of (body.labels as string[]).filter((l) => !target.labels.includes(l))) {
          target.labels.push(name);
          event(target, { event: 'labeled', actor: selfLogin, label: name });
        }
        return [200, target.labels.map((n) => ({ name: n }))];
      }
      case 'issues/add-assignees': {
        const target = needIssue();
        target.assignees = [...new Set([...target.assignees, ...(body.assignees as string[])])];
        touch(target);
        return [201, issueJson(target)];
      }
      case 'issues/remove-label': {
        const target = needIssue();
        const name = params[3]!;
        if (!target.labels.includes(name)) return [404, { message: 'Label does not exist' }];
        target.labels = target.labels.filter((l) => l !== name);
        event(target, { event: 'unlabeled', actor: selfLogin, label: name });
        return [200, target.labels.map((n) => ({ name: n }))];
      }
      default:
        return [404, { message: 'Not Found' }];
    }
  }

  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => {
      const parsedUrl = new URL(req.url ?? '/', 'http://fake');
      const route = routes.find((r) => r.op.method === req.method && r.regex.test(parsedUrl.pathname));
      const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        calls.push({ operationId: route?.id ?? 'unknown', method: req.method ?? '', path: parsedUrl.pathname, body: text ? JSON.parse(text) : undefined, status });
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      if (!route) {
        invalid.push(`${req.method} ${parsedUrl.pathname}: not an operation in the OpenAPI subset`);
        return send(404, { message: 'Not Found' });
      }
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      const problems: string[] = [];
      for (const name of parsedUrl.searchParams.keys()) if (!route.op.query.includes(name)) problems.push(`unknown query parameter ${name}`);
      if (route.validate) {
        if (!route.validate(body)) problems.push(...(route.validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`));
        const known = route.op.requestBody?.schema.properties;
        if (known) for (const name of Object.keys(body)) if (!(name in known)) problems.push(`unknown body property ${name}`);
      }
      if (problems.length > 0) {
        invalid.push(`${route.id}: ${problems.join('; ')}`);
        return send(422, { message: 'Validation Failed', errors: problems });
      }
      if (options.token && !new RegExp(`^(token|bearer) ${options.token}$`, 'i').test(req.headers.authorization ?? '')) {
        return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
      }
      const params = (route.regex.exec(parsedUrl.pathname) ?? []).slice(1).map((p) => decodeURIComponent(p));
      if (route.op.path.startsWith('/repos/{owner}/{repo}') && `${params[0]}/${params[1]}`.toLowerCase() !== `${owner}/${repo}`.toLowerCase()) {
        return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });
      }
      const failure = failures.get(route.id)?.shift();
      if (failure) return send(failure.status, failure.body, failure.headers);
      try {
        const [status, answer] = handle(route.id, params, parsedUrl.searchParams, body);
        send(status, answer);
      } catch (error) {
        send((error as { status?: number }).status ?? 500, { message: (error as Error).message });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const repository = (payload: Record<string, unknown>) => {
    const r = payload.repository as Record<string, unknown>;
    r.name = repo;
    r.full_name = `${owner}/${repo}`;
    (r.owner as Record<string, unknown>).login = owner;
  };
  const withIssue = (payload: Record<string, unknown>, issue: FakeIssue, actor: string): Delivery => {
    const json = issueJson(issue);
    payload.issue = { ...(payload.issue as object), ...json, user: { ...((payload.issue as { user: object }).user), login: issue.user } };
    repository(payload);
    payload.sender = { ...(payload.sender as object), login: actor };
    return { event: '', id: `delivery-${++deliveries}-${Date.now()}`, body: JSON.stringify(payload) };
  };
  const need = (n: number) => {
    const issue = issues.get(n);
    if (!issue) throw new Error(`fake GitHub has no issue #${n}`);
    return issue;
  };

  return {
    url,
    serverEnv: { GITHUB_TOKEN: options.token ?? 'ghp_test', GITHUB_API_URL: url, GITHUB_WEBHOOK_SECRET: options.secret },
    owner,
    repo,
    selfLogin,
    calls,
    invalid,
    issues,
    failNext(operationId, failure) {
      failures.set(operationId, [...(failures.get(operationId) ?? []), failure]);
    },
    callsSince(mark, opts = {}) {
      return calls.slice(mark).filter((c) => !opts.writes || c.method !== 'GET');
    },
    label(n, label, actor) {
      const issue = need(n);
      if (!issue.labels.includes(label)) issue.labels.push(label);
      event(issue, { event: 'labeled', actor, label });
      const payload = exampleOf('issues', 'labeled');
      payload.label = { ...(payload.label as object), name: label };
      return { ...withIssue(payload, issue, actor), event: 'issues' };
    },
    comment(n, body, actor) {
      const issue = need(n);
      const comment = { id: nextId++, body, user: actor, created_at: now() };
      issue.comments.push(comment);
      touch(issue);
      const payload = exampleOf('issue_comment', 'created');
      payload.comment = { ...(payload.comment as object), id: comment.id, body, user: { ...((payload.comment as { user: object }).user), login: actor } };
      return { ...withIssue(payload, issue, actor), event: 'issue_comment' };
    },
    editBody(n, body, actor) {
      const issue = need(n);
      const from = issue.body;
      issue.body = body;
      touch(issue);
      const payload = exampleOf('issues', 'edited') ?? { action: 'edited' };
      payload.action = 'edited';
      payload.changes = { body: { from } };
      return { ...withIssue(payload, issue, actor), event: 'issues' };
    },
    close(n, actor, stateReason) {
      const issue = need(n);
      issue.state = 'closed';
      issue.state_reason = stateReason;
      event(issue, { event: 'closed', actor, state_reason: stateReason });
      const { _comment: _, ...payload } = structuredClone(closedExample) as Record<string, unknown>;
      return { ...withIssue(payload, issue, actor), event: 'issues' };
    },
    foreignLabel(actor, label) {
      const payload = exampleOf('issues', 'labeled');
      payload.label = { ...(payload.label as object), name: label };
      repository(payload);
      payload.sender = { ...(payload.sender as object), login: actor };
      return { event: 'issues', id: `delivery-${++deliveries}-${Date.now()}`, body: JSON.stringify(payload) };
    },
    sign: (body) => webhooks.sign(body),
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
