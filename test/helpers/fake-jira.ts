import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local server that plays Jira Cloud REST v3 for the calls Countersign makes, answering with
 * the documented shapes (developer.atlassian.com/cloud/jira/platform/rest/v3). It records every
 * call, checks basic auth and the request bodies it understands (ADF documents, label strings
 * without spaces, transition ids that exist), answers 400 with Jira's `{errorMessages, errors}`
 * to a bad one, and keeps issues (with their ADF descriptions), statuses, comments and
 * changelogs in memory. Tests act as people through `transition`, `comment` and
 * `editDescription`, which return the webhook Jira Cloud would send (signed with the admin
 * webhook's secret). `jira:issue_updated` webhooks carry the issue with its description as ADF,
 * or, after `webhookDescriptions('wiki')`, as the wiki-markup string of the REST v2 form that
 * Data Center (and Cloud's v2 payloads) send.
 */

export interface RecordedCall {
  operation: string;
  method: string;
  path: string;
  body: unknown;
  status: number;
  /** When the fake answered (ms since the epoch). */
  at: number;
  /** The issue key the call was about, when it names one. */
  issue?: string;
}

interface Status {
  id: string;
  name: string;
}

export interface FakeJiraIssue {
  id: string;
  key: string;
  summary: string;
  description: unknown;
  labels: string[];
  assignee: string | null;
  status: Status;
  creator: string;
  comments: { id: string; author: string; body: unknown; created: string }[];
  histories: { id: string; author: string; created: string; items: { field: string; fieldtype: string; fieldId: string; from: string | null; fromString: string | null; to: string | null; toString: string | null }[] }[];
  created: string;
}

export interface Delivery {
  id: string;
  body: string;
}

/** `issue`: only a call on that issue fails (a late job of an earlier test must not take the failure). */
type Failure = { status: number; headers?: Record<string, string>; body?: unknown; issue?: string };

export interface FakeJira {
  readonly url: string;
  /** The settings a Countersign server needs to use this fake: host, account, token, webhook secret. */
  readonly serverEnv: Readonly<Record<'JIRA_HOST' | 'JIRA_EMAIL' | 'JIRA_API_TOKEN' | 'JIRA_WEBHOOK_SECRET', string>>;
  readonly email: string;
  readonly apiToken: string;
  readonly selfId: string;
  readonly calls: RecordedCall[];
  readonly invalid: string[];
  readonly issues: Map<string, FakeJiraIssue>;
  readonly statuses: { todo: Status; approved: Status; rejected: Status; inProgress: Status };
  /** The next call of `operation` (e.g. `createIssue`) gets this answer instead (once per call). */
  failNext(operation: string, failure: Failure): void;
  /** A person moves the issue to a status (by name); returns the `jira:issue_updated` webhook. */
  transition(key: string, statusName: string, actorId: string): Delivery;
  /** A person comments; returns the `comment_created` webhook (with Jira's slim issue: no labels). */
  comment(key: string, body: string, actorId: string): Delivery;
  /**
   * A person replaces the issue's description (ADF) in Jira's editor; returns the
   * `jira:issue_updated` webhook with its `description` changelog item.
   */
  editDescription(key: string, description: unknown, actorId: string): Delivery;
  /** How `jira:issue_updated` webhooks show the description from now on: ADF (the default), as wiki text, or not at all. */
  webhookDescriptions(form: 'adf' | 'wiki' | 'none'): void;
  /** A status change made by Countersign itself, as Jira reports it (the last changelog entry). */
  lastChangeWebhook(key: string): Delivery;
  /** The HMAC-SHA256 `X-Hub-Signature` value for a body. */
  sign(body: string, secret?: string): string;
  /** The headers Jira sends with a delivery. */
  headers(delivery: Delivery, secret?: string): Record<string, string>;
  stop(): Promise<void>;
}

const ROUTES: { operation: string; method: string; regex: RegExp }[] = [
  { operation: 'getCurrentUser', method: 'GET', regex: /^\/rest\/api\/3\/myself$/ },
  { operation: 'getAllStatuses', method: 'GET', regex: /^\/rest\/api\/3\/project\/([^/]+)\/statuses$/ },
  { operation: 'createIssue', method: 'POST', regex: /^\/rest\/api\/3\/issue$/ },
  { operation: 'editIssue', method: 'PUT', regex: /^\/rest\/api\/3\/issue\/([^/]+)$/ },
  { operation: 'getIssue', method: 'GET', regex: /^\/rest\/api\/3\/issue\/([^/]+)$/ },
  { operation: 'getTransitions', method: 'GET', regex: /^\/rest\/api\/3\/issue\/([^/]+)\/transitions$/ },
  { operation: 'doTransition', method: 'POST', regex: /^\/rest\/api\/3\/issue\/([^/]+)\/transitions$/ },
  { operation: 'addComment', method: 'POST', regex: /^\/rest\/api\/3\/issue\/([^/]+)\/comment$/ },
  { operation: 'searchForIssuesUsingJqlEnhancedSearchPost', method: 'POST', regex: /^\/rest\/api\/3\/search\/jql$/ },
];

class JiraError extends Error {
  readonly status: number;
  readonly errorMessages: string[];
  readonly errors: Record<string, string>;

  constructor(status: number, errorMessages: string[], errors: Record<string, string> = {}) {
    super(errorMessages.join('; ') || Object.values(errors).join('; '));
    this.status = status;
    this.errorMessages = errorMessages;
    this.errors = errors;
  }
}

const jiraTime = (date = new Date()) => date.toISOString().replace('Z', '+0000');

function isAdfDoc(value: unknown): boolean {
  const node = value as { type?: unknown; version?: unknown; content?: unknown };
  return !!node && node.type === 'doc' && node.version === 1 && Array.isArray(node.content);
}

export async function startFakeJira(options: { secret: string; project?: string; selfId?: string; email?: string; apiToken?: string }): Promise<FakeJira> {
  const project = options.project ?? 'OPS';
  const selfId = options.selfId ?? '557058:countersign-bot';
  const email = options.email ?? 'bot@acme.example';
  const apiToken = options.apiToken ?? 'jira-token';
  const statuses = {
    todo: { id: '10000', name: 'To Do' },
    inProgress: { id: '3', name: 'In Progress' },
    approved: { id: '10100', name: 'Approved' },
    rejected: { id: '10101', name: 'Rejected' },
  };
  const all = Object.values(statuses);
  const calls: RecordedCall[] = [];
  const invalid: string[] = [];
  const issues = new Map<string, FakeJiraIssue>();
  const failures = new Map<string, Failure[]>();
  let nextIssue = 1;
  let descriptionForm: 'adf' | 'wiki' | 'none' = 'adf';
  let nextId = 20_000;
  let url = '';

  const user = (accountId: string) => ({
    self: `${url}/rest/api/3/user?accountId=${encodeURIComponent(accountId)}`,
    accountId,
    displayName: accountId.split(':').at(-1),
    active: true,
    timeZone: 'Etc/UTC',
    accountType: 'atlassian',
  });
  const statusJson = (status: Status) => ({ self: `${url}/rest/api/3/status/${status.id}`, id: status.id, name: status.name, statusCategory: { id: 2, key: 'new', name: 'To Do' } });
  const issueJson = (issue: FakeJiraIssue, fields?: string[], expand?: string) => {
    const allFields: Record<string, unknown> = {
      summary: issue.summary,
      description: issue.description,
      labels: issue.labels,
      assignee: issue.assignee ? user(issue.assignee) : null,
      status: statusJson(issue.status),
      creator: user(issue.creator),
      reporter: user(issue.creator),
      project: { id: '10000', key: project, name: 'Operations' },
      issuetype: { id: '10001', name: 'Task' },
      created: issue.created,
      comment: {
        comments: issue.comments.map((c) => ({ id: c.id, author: user(c.author), body: c.body, created: c.created, updated: c.created })),
        maxResults: issue.comments.length,
        total: issue.comments.length,
        startAt: 0,
      },
    };
    const chosen = fields && !fields.includes('*all') ? Object.fromEntries(Object.entries(allFields).filter(([name]) => fields.includes(name))) : allFields;
    return {
      expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
      id: issue.id,
      self: `${url}/rest/api/3/issue/${issue.id}`,
      key: issue.key,
      fields: chosen,
      ...(expand?.includes('changelog')
        ? { changelog: { startAt: 0, maxResults: issue.histories.length, total: issue.histories.length, histories: issue.histories.map((h) => ({ ...h, author: user(h.author) })) } }
        : {}),
    };
  };

  const findIssue = (keyOrId: string): FakeJiraIssue => {
    const issue = issues.get(keyOrId) ?? [...issues.values()].find((i) => i.id === keyOrId);
    if (!issue) throw new JiraError(404, ['Issue does not exist or you do not have permission to see it.']);
    return issue;
  };
  const statusByName = (name: string) => {
    const status = all.find((s) => s.name.toLowerCase() === name.toLowerCase());
    if (!status) throw new Error(`fake Jira has no status ${name}`);
    return status;
  };
  /** Moves an issue and writes the changelog entry Jira would; returns that entry's id and item. */
  const move = (issue: FakeJiraIssue, to: Status, actor: string) => {
    const item = { field: 'status', fieldtype: 'jira', fieldId: 'status', from: issue.status.id, fromString: issue.status.name, to: to.id, toString: to.name };
    const history = { id: String(nextId++), author: actor, created: jiraTime(), items: [item] };
    issue.histories.push(history);
    issue.status = to;
    return history;
  };
  /** A rough wiki-markup rendering of an ADF tree, standing in for what the REST v2 form shows. */
  const wiki = (node: unknown): string => {
    const n = node as { type?: string; text?: string; content?: unknown[] } | null;
    if (!n || typeof n !== 'object') return '';
    if (n.type === 'text') return n.text ?? '';
    const inner = (n.content ?? []).map(wiki).join('');
    if (n.type === 'codeBlock') return `{code}${inner}{code}\n`;
    if (n.type === 'heading') return `h3. ${inner}\n`;
    return n.type === 'paragraph' ? `${inner}\n` : inner;
  };
  /** Replaces an issue's description and writes the changelog entry Jira would (its text items in wiki form). */
  const setDescription = (issue: FakeJiraIssue, description: unknown, actor: string) => {
    const item = { field: 'description', fieldtype: 'jira', fieldId: 'description', from: null, fromString: wiki(issue.description), to: null, toString: wiki(description) };
    const history = { id: String(nextId++), author: actor, created: jiraTime(), items: [item] };
    issue.histories.push(history);
    issue.description = description;
    return history;
  };
  const checkLabels = (labels: unknown): string[] => {
    if (!Array.isArray(labels) || labels.some((l) => typeof l !== 'string' || /\s/.test(l) || l.length > 255)) {
      throw new JiraError(400, [], { labels: 'Labels must be strings without spaces.' });
    }
    return labels as string[];
  };

  /** Evaluates the two JQL shapes Countersign sends: `labels = "x"` and `labels in ("a", "b")`. */
  function searchJql(jql: string): FakeJiraIssue[] {
    const eq = /^labels\s*=\s*"([^"]+)"(?:\s+ORDER BY created ASC)?$/i.exec(jql.trim());
    const inList = /^labels\s+in\s*\(([^)]*)\)$/i.exec(jql.trim());
    let wanted: string[];
    if (eq) wanted = [eq[1]!];
    else if (inList) wanted = [...inList[1]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
    else throw new JiraError(400, [`Error in the JQL Query: the fake does not understand ${jql}`]);
    return [...issues.values()].filter((issue) => issue.labels.some((l) => wanted.includes(l)));
  }

  function handle(operation: string, params: string[], query: URLSearchParams, body: Record<string, unknown>): [number, unknown] {
    switch (operation) {
      case 'getCurrentUser':
        return [200, { ...user(selfId), emailAddress: email }];
      case 'getAllStatuses':
        if (params[0] !== project) throw new JiraError(404, [`No project could be found with key '${params[0]}'.`]);
        return [200, [{ self: `${url}/rest/api/3/issuetype/10001`, id: '10001', name: 'Task', subtask: false, statuses: all.map(statusJson) }]];
      case 'createIssue': {
        const fields = (body.fields ?? {}) as Record<string, unknown>;
        const errors: Record<string, string> = {};
        if ((fields.project as { key?: string } | undefined)?.key !== project) errors.project = 'valid project is required';
        if ((fields.issuetype as { name?: string } | undefined)?.name?.toLowerCase() !== 'task') errors.issuetype = 'valid issue type is required';
        if (typeof fields.summary !== 'string' || fields.summary === '' || fields.summary.length > 255 || /\n/.test(fields.summary)) errors.summary = 'Summary must be a single line under 255 characters.';
        if (fields.description !== undefined && !isAdfDoc(fields.description)) errors.description = 'Operation value must be an Atlassian Document (see the Atlassian Document Format).';
        const assignee = (fields.assignee as { accountId?: string } | undefined)?.accountId;
        if (assignee !== undefined && !/^acc-|^557058:/.test(assignee)) errors.assignee = `Specified user does not exist or you do not have required permissions`;
        if (Object.keys(errors).length > 0) throw new JiraError(400, [], errors);
        const number = nextIssue++;
        const issue: FakeJiraIssue = {
          id: String(10_000 + number),
          key: `${project}-${number}`,
          summary: fields.summary as string,
          description: fields.description,
          labels: checkLabels(fields.labels ?? []),
          assignee: assignee ?? null,
          status: statuses.todo,
          creator: selfId,
          comments: [],
          histories: [],
          created: jiraTime(),
        };
        issues.set(issue.key, issue);
        return [201, { id: issue.id, key: issue.key, self: `${url}/rest/api/3/issue/${issue.id}` }];
      }
      case 'editIssue': {
        const issue = findIssue(params[0]!);
        const update = (body.update ?? {}) as { labels?: { add?: string; remove?: string; set?: string[] }[] };
        const fields = (body.fields ?? {}) as { assignee?: { accountId?: string }; description?: unknown };
        if (fields.description !== undefined && !isAdfDoc(fields.description)) throw new JiraError(400, [], { description: 'Operation value must be an Atlassian Document (see the Atlassian Document Format).' });
        if (fields.description !== undefined) setDescription(issue, fields.description, selfId);
        for (const op of update.labels ?? []) {
          if (op.add !== undefined) issue.labels = [...new Set([...issue.labels, ...checkLabels([op.add])])];
          if (op.remove !== undefined) issue.labels = issue.labels.filter((l) => l !== op.remove);
          if (op.set !== undefined) issue.labels = checkLabels(op.set);
        }
        if (fields.assignee) issue.assignee = fields.assignee.accountId ?? null;
        return query.get('returnIssue') === 'true' ? [200, issueJson(issue)] : [204, undefined];
      }
      case 'getIssue': {
        const issue = findIssue(params[0]!);
        const fields = query.get('fields')?.split(',');
        return [200, issueJson(issue, fields, query.get('expand') ?? undefined)];
      }
      case 'getTransitions': {
        const issue = findIssue(params[0]!);
        // Global transitions to every other status, named after their target as Jira does.
        return [200, { expand: 'transitions', transitions: all.filter((s) => s.id !== issue.status.id).map((s) => ({ id: `t${s.id}`, name: s.name, to: statusJson(s), hasScreen: false, isGlobal: true, isInitial: false, isAvailable: true, isConditional: false, isLooped: false })) }];
      }
      case 'doTransition': {
        const issue = findIssue(params[0]!);
        const id = (body.transition as { id?: string } | undefined)?.id;
        const to = all.find((s) => `t${s.id}` === id && s.id !== issue.status.id);
        if (!to) throw new JiraError(400, [`Transition id '${id}' is not valid for this issue.`]);
        move(issue, to, selfId);
        return [204, undefined];
      }
      case 'addComment': {
        const issue = findIssue(params[0]!);
        if (!isAdfDoc(body.body)) throw new JiraError(400, [], { comment: 'Comment body is not valid! Expected an Atlassian Document.' });
        const comment = { id: String(nextId++), author: selfId, body: body.body, created: jiraTime() };
        issue.comments.push(comment);
        return [201, { self: `${url}/rest/api/3/issue/${issue.id}/comment/${comment.id}`, id: comment.id, author: user(selfId), body: comment.body, created: comment.created, updated: comment.created, jsdPublic: true }];
      }
      case 'searchForIssuesUsingJqlEnhancedSearchPost': {
        if (typeof body.jql !== 'string') throw new JiraError(400, ['JQL query is required.']);
        const max = Math.min(Number(body.maxResults ?? 50), 5000);
        const found = searchJql(body.jql).slice(0, max);
        const expand = Array.isArray(body.expand) ? body.expand.join(',') : (body.expand as string | undefined);
        return [200, { issues: found.map((issue) => issueJson(issue, (body.fields as string[] | undefined) ?? ['id'], expand)), isLast: true }];
      }
      default:
        throw new JiraError(404, ['Not found']);
    }
  }

  const expectedAuth = `Basic ${Buffer.from(`${email}:${apiToken}`).toString('base64')}`;
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => {
      const parsedUrl = new URL(req.url ?? '/', 'http://fake');
      const route = ROUTES.find((r) => r.method === req.method && r.regex.test(parsedUrl.pathname));
      const params = route ? (route.regex.exec(parsedUrl.pathname) ?? []).slice(1).map((p) => decodeURIComponent(p)) : [];
      const operation = route?.operation ?? 'unknown';
      let body: Record<string, unknown> = {};
      const send = (status: number, answer: unknown, headers: Record<string, string> = {}) => {
        const issueKey = params[0] && operation !== 'getAllStatuses' ? params[0] : operation === 'createIssue' && status === 201 ? (answer as { key: string }).key : undefined;
        calls.push({ operation, method: req.method ?? '', path: parsedUrl.pathname, body, status, at: Date.now(), ...(issueKey ? { issue: issueKey } : {}) });
        res.writeHead(status, { ...(answer === undefined ? {} : { 'content-type': 'application/json;charset=UTF-8' }), ...headers });
        res.end(answer === undefined ? '' : JSON.stringify(answer));
      };
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        invalid.push(`${operation}: body is not JSON`);
        return send(400, { errorMessages: ['Unexpected character in the request body'], errors: {} });
      }
      if (req.headers.authorization !== expectedAuth) return send(401, { errorMessages: ['You are not authenticated. Authentication required to perform this operation.'], errors: {} });
      if (!route) {
        invalid.push(`${req.method} ${parsedUrl.pathname}: not an operation the fake knows`);
        return send(404, { errorMessages: ['Not found'], errors: {} });
      }
      const queued = failures.get(operation) ?? [];
      const index = queued.findIndex((f) => f.issue === undefined || f.issue === params[0]);
      const failure = index >= 0 ? queued.splice(index, 1)[0] : undefined;
      if (failure) return send(failure.status, failure.body ?? { errorMessages: [`injected ${failure.status}`], errors: {} }, failure.headers);
      try {
        const [status, answer] = handle(operation, params, parsedUrl.searchParams, body);
        send(status, answer);
      } catch (error) {
        if (!(error instanceof JiraError)) throw error;
        if (error.status === 400) invalid.push(`${operation}: ${error.message}`);
        send(error.status, { errorMessages: error.errorMessages, errors: error.errors });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const sign = (body: string, secret = options.secret) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
  const delivery = (payload: Record<string, unknown>): Delivery => ({ id: randomUUID(), body: JSON.stringify({ timestamp: Date.now(), ...payload }) });
  const updatedWebhook = (issue: FakeJiraIssue, history: FakeJiraIssue['histories'][number]) => {
    const { description, ...fields } = issueJson(issue).fields;
    const shown = descriptionForm === 'adf' ? { description } : descriptionForm === 'wiki' ? { description: wiki(description) } : {};
    return delivery({
      webhookEvent: 'jira:issue_updated',
      issue_event_type_name: 'issue_generic',
      user: user(history.author),
      issue: { ...issueJson(issue), fields: { ...fields, ...shown }, self: `${url}/rest/api/2/issue/${issue.id}` },
      changelog: { id: history.id, items: history.items },
    });
  };

  return {
    url,
    serverEnv: { JIRA_HOST: url, JIRA_EMAIL: email, JIRA_API_TOKEN: apiToken, JIRA_WEBHOOK_SECRET: options.secret },
    email,
    apiToken,
    selfId,
    calls,
    invalid,
    issues,
    statuses,
    failNext(operation, failure) {
      failures.set(operation, [...(failures.get(operation) ?? []), failure]);
    },
    transition(key, statusName, actorId) {
      const issue = findIssue(key);
      return updatedWebhook(issue, move(issue, statusByName(statusName), actorId));
    },
    comment(key, body, actorId) {
      const issue = findIssue(key);
      const comment = { id: String(nextId++), author: actorId, body: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: body }] }] }, created: jiraTime() };
      issue.comments.push(comment);
      // Webhooks carry the REST v2 representation: the comment body is wiki-markup text, and the issue is slim.
      return delivery({
        webhookEvent: 'comment_created',
        comment: { self: `${url}/rest/api/2/issue/${issue.id}/comment/${comment.id}`, id: comment.id, author: user(actorId), body, updateAuthor: user(actorId), created: comment.created, updated: comment.created, jsdPublic: true },
        issue: {
          id: issue.id,
          self: `${url}/rest/api/2/issue/${issue.id}`,
          key: issue.key,
          fields: { summary: issue.summary, issuetype: { id: '10001', name: 'Task' }, project: { id: '10000', key: project, name: 'Operations' }, assignee: issue.assignee ? user(issue.assignee) : null, priority: { id: '3', name: 'Medium' }, status: statusJson(issue.status) },
        },
      });
    },
    editDescription(key, description, actorId) {
      const issue = findIssue(key);
      if (!isAdfDoc(description)) throw new Error('fake Jira: a description is an ADF document');
      return updatedWebhook(issue, setDescription(issue, description, actorId));
    },
    webhookDescriptions(form) {
      descriptionForm = form;
    },
    lastChangeWebhook(key) {
      const issue = findIssue(key);
      const history = issue.histories.at(-1);
      if (!history) throw new Error(`${key} has no changelog`);
      return updatedWebhook(issue, history);
    },
    sign,
    headers: (d, secret) => ({
      'content-type': 'application/json; charset=utf-8',
      'user-agent': 'Atlassian Webhook HTTP Client',
      'x-atlassian-webhook-identifier': d.id,
      'x-hub-signature': sign(d.body, secret),
    }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
