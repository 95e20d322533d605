/**
 * An example agent: asks Countersign before it "sends an email", then acts only on a
 * verified yes. It listens for the signed callback and long-polls at the same time, and
 * takes whichever answers first.
 *
 *   COUNTERSIGN_URL=http://127.0.0.1:8080 COUNTERSIGN_KEY=csk_… COUNTERSIGN_WEBHOOK_SECRET=whsec_… \
 *     npx node examples/agent.ts billing-bot
 *
 * The key needs scopes intake,read and `--callback-hosts 127.0.0.1` for the loopback callback.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCountersignClient, verifyCallback, type Approval } from '../src/client/index.ts';

const baseUrl = process.env.COUNTERSIGN_URL ?? 'http://127.0.0.1:8080';
const apiKey = required('COUNTERSIGN_KEY');
const webhookSecret = required('COUNTERSIGN_WEBHOOK_SECRET');
const project = process.argv[2] ?? 'billing-bot';

const countersign = createCountersignClient({ baseUrl, apiKey });
const draft = { to: 'ops@acme.example', subject: 'Your invoice', body: 'Hello, the corrected invoice is attached.' };

// The receipt key lets the agent check the decision came from Countersign, not just from someone holding the secret.
const publicKey = ((await (await fetch(`${baseUrl}/v1/audit/public-key`)).json()) as { publicKey: string }).publicKey;

let expectedPayloadHash = '';
let onDecision!: (status: Approval['status']) => void;
const callbackDecision = new Promise<Approval['status']>((resolve) => (onDecision = resolve));
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    try {
      const event = verifyCallback(Buffer.concat(chunks).toString(), req.headers, webhookSecret, { publicKey, expectedPayloadHash });
      res.writeHead(204).end();
      console.log(`callback ${event.webhookId}: ${event.data.status}`);
      onDecision(event.data.status);
    } catch (error) {
      console.error(`refused a callback: ${(error as Error).message}`);
      res.writeHead(401).end();
    }
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const callbackUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/approval`;

const approval = await countersign.requestApproval({ project, action: 'send_email', summary: `Send "${draft.subject}" to ${draft.to}`, payload: draft, requestedBy: 'example-agent', callbackUrl });
expectedPayloadHash = approval.payloadHash;
console.log(`requested ${approval.id} (${approval.payloadHash}); waiting for a reviewer`);

const status = await Promise.race([callbackDecision, countersign.waitForDecision(approval.id, { timeoutMs: 10 * 60_000 }).then((a) => a.status)]);
console.log(status === 'approved' ? `approved: sending the email to ${draft.to}` : `not sent: ${status}`);
// When the long poll won, the signed callback is on its way: take it (a receiver that is gone
// makes Countersign retry it for a day and then count it dead), but wait no more than 10 s.
await Promise.race([callbackDecision, new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
server.close();
server.closeAllConnections();
process.exitCode = status === 'approved' ? 0 : 3;

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}
