import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { withFreshDatabase } from './bench-postgres.ts';
import { percentile, prepareAgent, startBenchServer } from './bench-server.ts';

const PENDING = 1000;
const round = (ms: number) => Math.round(ms * 10) / 10;
const SAMPLES = 200;

/**
 * The web inbox with 1,000 pending approvals for the signed-in reviewer: `GET /inbox` (lists
 * the newest 200, counts the rest) and one approval's page (payload, votes, audit trail),
 * rendered by a real `countersign serve`, on the embedded database and on PostgreSQL
 * (BENCH_DATABASE_URL or TEST_DATABASE_URL, else the local test server). Target p99 ≤ 50 ms each.
 */
export async function run(): Promise<Record<string, unknown>> {
  const pglite = await measure({});
  const adminUrl = process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const postgres = await withFreshDatabase(adminUrl, 'countersign_bench_inbox', (url) => measure({ DATABASE_URL: url }));
  return { pending: PENDING, samples: SAMPLES, targetP99Ms: 50, pglite, postgres };
}

async function measure(env: Record<string, string>): Promise<Record<string, unknown>> {
  const server = await startBenchServer(env, 18_191);
  try {
    const agent = await prepareAgent(server);
    // The same project, with alice in the people directory so she can sign in.
    const mapping = path.join(os.tmpdir(), `countersign-inbox-bench-${process.pid}.yaml`);
    await fs.writeFile(mapping, 'people:\n  - id: alice\nprojects:\n  - key: bench\n    provider: local\n    reviewers: [alice]\n');
    await server.cli(['projects', 'apply', mapping]);
    await fs.rm(mapping, { force: true });
    const ids: string[] = [];
    for (let i = 0; i < PENDING; i += 20) {
      const batch = await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          const response = await fetch(`${server.url}/v1/approvals`, {
            method: 'POST',
            headers: { authorization: `Bearer ${agent.key}`, 'content-type': 'application/json' },
            body: JSON.stringify({ project: 'bench', action: 'send_email', summary: `Send reply ${i + j} to the customer`, details: 'Reply to ticket #4411.', payload: { to: 'ops@acme.example', n: i + j }, requestedBy: 'agent-7' }),
          });
          return ((await response.json()) as { id: string }).id;
        }),
      );
      ids.push(...batch);
    }

    // Sign in as a browser does: open the link, press Sign in (a form post with the page's token).
    const { url } = JSON.parse(await server.cli(['login-link', '--person', 'alice', '--json'])) as { url: string };
    const confirm = await fetch(url);
    const cookie = confirm.headers.getSetCookie().map((line) => line.split(';')[0]).join('; ');
    const page = await confirm.text();
    const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(page)![1]!;
    const signed = await fetch(`${server.url}/login`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ t: field('t'), csrf: field('csrf') }) });
    const session = signed.headers.getSetCookie().map((line) => line.split(';')[0]).find((pair) => pair!.startsWith('countersign_session='))!;

    const time = async (path: string) => {
      const ms: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const started = performance.now();
        const response = await fetch(`${server.url}${path}`, { headers: { cookie: session } });
        await response.text();
        if (response.status !== 200) throw new Error(`${path}: ${response.status}`);
        ms.push(performance.now() - started);
      }
      ms.sort((a, b) => a - b);
      return { p50: round(percentile(ms, 50)), p99: round(percentile(ms, 99)) };
    };
    const inbox = await time('/inbox');
    const approval = await time(`/approvals/${ids[ids.length >> 1]}`);
    return { inboxMs: inbox, approvalPageMs: approval };
  } finally {
    await server.stop();
  }
}
