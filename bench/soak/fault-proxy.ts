import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does to each request: pass it on, or answer as a failing provider would. */
export type FaultMode = 'pass' | '5xx' | '429' | 'hang';

export interface FaultProxy {
  readonly url: string;
  mode: FaultMode;
  /** Requests answered with a fault so far. */
  readonly faulted: number;
  stop(): Promise<void>;
}

/**
 * Stands in front of a fake provider (test/helpers/fake-github.ts, fake-jira.ts) and, while told
 * to, answers every request with a 502, a 429 with `Retry-After`, or holds it unanswered: the
 * server then meets a provider outage for a whole window instead of the fakes' one-shot
 * `failNext`. Held requests are released (destroyed) when the window ends, as a provider's
 * load balancer would drop them.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const held = new Set<http.ServerResponse>();
  let faulted = 0;
  let mode: FaultMode = 'pass';
  const server = http.createServer((req, res) => {
    if (mode !== 'pass') {
      faulted += 1;
      req.resume();
      if (mode === 'hang') {
        held.add(res);
        res.on('close', () => held.delete(res));
        return;
      }
      const status = mode === '429' ? 429 : 502;
      res.writeHead(status, { 'content-type': 'application/json', ...(mode === '429' ? { 'retry-after': '2', 'x-ratelimit-remaining': '0' } : {}) });
      res.end(JSON.stringify({ message: mode === '429' ? 'API rate limit exceeded' : 'Bad Gateway' }));
      return;
    }
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get mode() {
      return mode;
    },
    set mode(next: FaultMode) {
      mode = next;
      if (next === 'pass') for (const res of held) res.destroy();
    },
    get faulted() {
      return faulted;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const res of held) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
