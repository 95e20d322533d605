import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HoldingProxy {
  readonly url: string;
  /** Issue-create requests seen, held or passed on. */
  readonly creates: number;
  /** While true, issue-create requests are held, never answered; others always pass. */
  holding: boolean;
  /** Resolves when the first request has been held. */
  readonly held: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Stands in front of the fake GitHub and holds every issue-create request while told to,
 * never answering: the server's ticket job is then running (pg-boss state `active`) when a
 * test or bench kills the server.
 */
export async function startHoldingProxy(target: string): Promise<HoldingProxy> {
  let heldOne: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (heldOne = resolve));
  const open = new Set<http.ServerResponse>();
  let creates = 0;
  const server = http.createServer((req, res) => {
    const isCreate = req.method === 'POST' && /\/issues$/.test(req.url ?? '');
    if (isCreate) creates += 1;
    if (isCreate && proxy.holding) {
      open.add(res);
      heldOne();
      return;
    }
    const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: HoldingProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get creates() {
      return creates;
    },
    holding: true,
    held,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const res of open) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  return proxy;
}
