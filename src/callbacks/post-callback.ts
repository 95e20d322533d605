import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { callbackDestination, callbackLookup, resolveCallbackAddresses, type HostResolver } from './callback-url-policy.ts';

export interface CallbackRequest {
  url: string;
  headers: Readonly<Record<string, string>>;
  body: string;
  /** The key's `--callback-hosts`. */
  allowHosts: readonly string[];
  resolveHost: HostResolver;
  timeoutMs: number;
}

export interface CallbackResponse {
  status: number;
  retryAfter: string | null;
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
 * The body of the answer is not read: only its status and `Retry-After` matter.
 */
export async function postCallback(request: CallbackRequest): Promise<CallbackResponse> {
  const destination = callbackDestination(request.url, request.allowHosts);
  if (isIP(destination.hostname) !== 0) await resolveCallbackAddresses(destination, request.resolveHost);
  const send = destination.url.protocol === 'https:' ? https.request : http.request;
  return new Promise<CallbackResponse>((resolve, reject) => {
    const outgoing = send(
      destination.url,
      {
        method: 'POST',
        headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
        lookup: callbackLookup(destination, request.resolveHost),
        // A fresh connection per attempt: a pooled socket would skip the lookup, and with it the check.
        agent: false,
        signal: AbortSignal.timeout(request.timeoutMs),
      },
      (response) => {
        const retryAfter = response.headers['retry-after'];
        resolve({ status: response.statusCode ?? 0, retryAfter: retryAfter ?? null });
        response.destroy();
      },
    );
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}
