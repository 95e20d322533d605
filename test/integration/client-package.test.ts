import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiKey } from '../../src/keys/api-keys.ts';
import { startProcess } from '../helpers/countersign-process.ts';
import { startTestServer, type TestServer } from '../helpers/test-server.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number | null;
  output: string;
}

async function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  const running = startProcess(command, args, { cwd: options.cwd, env: options.env ?? process.env });
  return { code: await running.exited, output: running.output() };
}

/** An agent of another project: only the installed `countersign/client`, typed. */
const ROUND_TRIP = `
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCountersignClient, verifyCallback, type Approval, type ApprovalRequest } from 'countersign/client';

const baseUrl = process.env.COUNTERSIGN_URL!;
const secret = process.env.COUNTERSIGN_WEBHOOK_SECRET!;
const client = createCountersignClient({ baseUrl, apiKey: process.env.COUNTERSIGN_KEY! });
const { publicKey } = (await (await fetch(\`\${baseUrl}/v1/audit/public-key\`)).json()) as { publicKey: string };

let expectedPayloadHash = '';
let onVerified!: (status: string) => void;
const verified = new Promise<string>((resolve) => (onVerified = resolve));
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const event = verifyCallback(Buffer.concat(chunks), req.headers, secret, { publicKey, expectedPayloadHash });
    res.writeHead(204).end();
    onVerified(event.data.status);
  });
});
await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));

const request: ApprovalRequest = { project: 'billing-bot', action: 'send_email', summary: 'From the packed client', payload: { to: 'ops@acme.example' }, callbackUrl: \`http://127.0.0.1:\${(receiver.address() as AddressInfo).port}/cb\` };
const approval: Approval = await client.requestApproval(request);
expectedPayloadHash = approval.payloadHash;
console.log(\`requested \${approval.id}\`);
const decided = await client.waitForDecision(approval.id, { timeoutMs: 30_000 });
console.log(\`decided \${decided.status} by \${decided.decision?.by.join(',')}\`);
console.log(\`verified callback \${await verified}\`);
receiver.close();
receiver.closeAllConnections();
`;

/**
 * What another project gets: `npm pack` (of the dist/ that `npm ci` compiles), the tarball installed
 * into an empty project, and an agent run from there on `countersign/client` alone: a
 * request, a reviewer's decision, a verified callback.
 */
describe('the packed package, installed into a plain project', () => {
  let dir: string;
  let project: string;
  let server: TestServer;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'countersign-pack-'));
    // dist/ is current (npm ci built it, or the global setup rebuilt it): packing without
    // `prepare` keeps it from being rewritten while other tests run the CLI from it.
    const packed = await run('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT });
    expect(packed.code, packed.output).toBe(0);
    const tarball = (await fs.readdir(dir)).find((name) => name.endsWith('.tgz'));
    expect(tarball, packed.output).toBeDefined();

    project = path.join(dir, 'agent');
    await fs.mkdir(project);
    await fs.writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'agent', private: true, type: 'module' }));
    // From the npm cache `npm ci` filled: the same packages, no new download.
    const installed = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, tarball!)], { cwd: project });
    expect(installed.code, installed.output).toBe(0);

    await fs.writeFile(path.join(project, 'round-trip.ts'), ROUND_TRIP);
    server = await startTestServer({ name: 'pglite', create: async () => ({ target: { kind: 'pglite', dataDir: 'memory' }, dispose: async () => undefined }) });
    await server.projects([{ key: 'billing-bot', provider: 'local', reviewers: ['alice'] }]);
  }, 300_000);
  afterAll(async () => {
    await server?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('ships compiled JavaScript with its types, and no TypeScript sources', async () => {
    const installed = path.join(project, 'node_modules/countersign');
    const manifest = JSON.parse(await fs.readFile(path.join(installed, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    await expect(fs.stat(path.join(installed, manifest.exports['./client']!.default))).resolves.toBeTruthy();
    await expect(fs.stat(path.join(installed, manifest.exports['./client']!.types))).resolves.toBeTruthy();
    await expect(fs.stat(path.join(installed, 'src'))).rejects.toThrow();

    // The agent type-checks against the installed declarations alone.
    await fs.writeFile(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'], typeRoots: [path.join(ROOT, 'node_modules/@types')] },
        files: ['round-trip.ts'],
      }),
    );
    const checked = await run(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: project });
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);
  }, 120_000);

  it('runs a request, a decision and a verified callback through countersign/client', async () => {
    const agentKey = await createApiKey(server.services, { name: 'packed', scopes: ['intake', 'read'], callbackHosts: ['127.0.0.1'] });
    const aliceKey = await server.key({ scopes: ['review'], reviewer: 'alice' });
    const agent = startProcess(process.execPath, ['round-trip.ts'], {
      cwd: project,
      env: { ...process.env, COUNTERSIGN_URL: server.url, COUNTERSIGN_KEY: agentKey.key, COUNTERSIGN_WEBHOOK_SECRET: agentKey.webhookSecret },
    });

    await expect.poll(() => /requested (apr_\w+)/.exec(agent.output())?.[1], { timeout: 20_000 }).toBeTruthy();
    const id = /requested (apr_\w+)/.exec(agent.output())![1]!;
    const decision = await server.fetch(`/v1/approvals/${id}/decision`, { key: aliceKey, json: { outcome: 'approve' } });
    expect(decision.status).toBe(200);
    expect(await agent.exited, agent.output()).toBe(0);
    expect(agent.output()).toContain(`decided approved by alice`);
    expect(agent.output()).toContain('verified callback approved');
  }, 60_000);
});
