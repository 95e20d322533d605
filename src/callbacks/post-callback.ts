import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { callbackDestination, callbackLookup, resolveCallbackAddresses, type CallbackDestination, type HostResolver } from './callback-url-policy.ts';

export interface CallbackRequest {
  url: string;
  headers: Readonly<Record<string, string>>;
  body: string;
  /** The key's `--callback-hosts`. */
  allowHosts: readonly string[];
  resolveHost: HostResolver;
  timeoutMs: number;
  /**
   * Kept-alive connections of one key (see `createCallbackAgents`); without it, a connection
   * for this attempt only.
   */
  agents?: CallbackAgents;
}

export interface CallbackResponse {
  status: number;
  retryAfter: string | null;
}

/** How long an idle kept-alive connection to a receiver stays open. */
const IDLE_SOCKET_MS = 5_000;
/** Keys whose connections are kept at once; the least recently used key's are closed beyond this. */
const MAX_KEPT_KEYS = 64;

export interface CallbackAgents {
  agentFor(protocol: string): http.Agent;
}

/**
 * Kept-alive connections to receivers, one pool per key and callback-hosts list: a connection
 * made (and checked, at connect time) for one key is never used by another, nor by the same
 * key once its callback hosts changed. Reusing one saves the attempt a TCP (and TLS) handshake,
 * and lets the request go out on the next tick after the decision commits rather than after a
 * connect, behind whatever else the commit woke.
 */
export function createCallbackAgents() {
  const pools = new Map<string, { http: http.Agent; https: https.Agent }>();
  const destroy = (pool: { http: http.Agent; https: https.Agent }) => {
    pool.http.destroy();
    pool.https.destroy();
  };
  return {
    forKey(apiKeyId: string, allowHosts: readonly string[]): CallbackAgents {
      const name = JSON.stringify([apiKeyId, allowHosts]);
      let pool = pools.get(name);
      if (pool) pools.delete(name);
      else {
        const options = { keepAlive: true, timeout: IDLE_SOCKET_MS, maxFreeSockets: 4 };
        pool = { http: new http.Agent(options), https: new https.Agent(options) };
      }
      pools.set(name, pool); // most recently used last
      for (const [oldest, old] of pools) {
        if (pools.size <= MAX_KEPT_KEYS) break;
        pools.delete(oldest);
        destroy(old);
      }
      const kept = pool;
      return { agentFor: (protocol) => (protocol === 'https:' ? kept.https : kept.http) };
    },
    close() {
      for (const pool of pools.values()) destroy(pool);
      pools.clear();
    },
  };
}

/**
 * POSTs one callback attempt through the destination policy, checked at connect time: names
 * are resolved by `callbackLookup`, which lets the socket use only the addresses it checked,
 * and IP literals (which Node connects to without a lookup) are checked just before. Throws
 * the policy's 422 (see `isCallbackRefusal`) before any connection is opened, or the network's
 * error.
 *
 * node:http rather than fetch: fetch takes no `lookup` without the undici package's Agent, and
 * node:http never follows a redirect, so a 30x to an internal address is just an answer.
 * Only the answer's status and `Retry-After` matter; its body is read and dropped.
 */
export async function postCallback(request: CallbackRequest): Promise<CallbackResponse> {
  const destination = callbackDestination(request.url, request.allowHosts);
  if (isIP(destination.hostname) !== 0) await resolveCallbackAddresses(destination, request.resolveHost);
  const signal = AbortSignal.timeout(request.timeoutMs);
  const pooled = request.agents?.agentFor(destination.url.protocol);
  try {
    return await postOnce(request, destination, pooled ?? false, signal);
  } catch (error) {
    // A kept-alive connection the receiver closed while it sat idle: the request never reached
    // it, so it goes again once on a new connection (Node's documented remedy, `reusedSocket`).
    if (!(error instanceof ReusedSocketClosed)) throw error;
    return postOnce(request, destination, false, signal);
  }
}

/** A kept-alive connection failed before the receiver answered anything. */
class ReusedSocketClosed extends Error {}

/** An answer's body is read (so its connection can be kept) up to this; a longer one closes the connection. */
const MAX_ANSWER_BYTES = 64 * 1024;

function postOnce(request: CallbackRequest, destination: CallbackDestination, agent: http.Agent | false, signal: AbortSignal): Promise<CallbackResponse> {
  const send = destination.url.protocol === 'https:' ? https.request : http.request;
  return new Promise<CallbackResponse>((resolve, reject) => {
    const outgoing = send(
      destination.url,
      {
        method: 'POST',
        headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
        // A new connection is checked at connect time by this lookup; a kept-alive one was checked
        // when it connected, for the same key and the same callback hosts (see CallbackAgents).
        lookup: callbackLookup(destination, request.resolveHost),
        agent,
        signal,
      },
      (response) => {
        const retryAfter = response.headers['retry-after'];
        resolve({ status: response.statusCode ?? 0, retryAfter: retryAfter ?? null });
        if (agent === false) return void response.destroy();
        // Read to its end, so the connection goes back to the pool; a receiver that talks on is cut off.
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) response.destroy();
        });
        response.on('error', () => undefined);
      },
    );
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      const closedIdle = outgoing.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
      reject(closedIdle ? new ReusedSocketClosed(error.message, { cause: error }) : error);
    });
    outgoing.end(request.body);
  });
}
