import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCallbackRefusal, type HostResolver } from '../../../src/callbacks/callback-url-policy.ts';
import { postCallback } from '../../../src/callbacks/post-callback.ts';
import { startCallbackReceiver, type CallbackReceiver } from '../../helpers/callback-receiver.ts';
import { fakeDns } from '../../helpers/fake-dns.ts';

// Every connection here goes to 127.0.0.1: names resolve through fakeDns, and a refused
// destination is refused before any socket opens (the receivers count connections).
describe('postCallback', () => {
  let receiver: CallbackReceiver;
  let other: CallbackReceiver;
  beforeEach(async () => {
    receiver = await startCallbackReceiver();
    other = await startCallbackReceiver();
  });
  afterEach(async () => {
    await receiver.close();
    await other.close();
  });

  const port = () => new URL(receiver.url).port;
  const post = (url: string, allowHosts: string[], resolveHost: HostResolver) =>
    postCallback({ url, headers: { 'content-type': 'application/json' }, body: '{"ok":true}', allowHosts, resolveHost, timeoutMs: 10_000 });

  it('refuses a name that resolves to loopback before opening any connection (rebinding)', async () => {
    const dns = fakeDns({ 'rebind.example': ['127.0.0.1'] });
    const error = await post(`http://rebind.example:${port()}/hooks/approval`, [], dns).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCallbackRefusal(error)).toBe(true);
    // The lookup hook was asked at connect time, and the socket never reached the receiver.
    expect(dns.asked).toEqual(['rebind.example']);
    expect(receiver.connections).toBe(0);
    expect(receiver.received).toHaveLength(0);
  });

  it('refuses an IP literal that is not public without connecting (Node skips lookup for literals)', async () => {
    const dns = fakeDns({});
    const error = await post(receiver.url, [], dns).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCallbackRefusal(error)).toBe(true);
    expect(receiver.connections).toBe(0);
  });

  it('delivers to an allow-listed name through the address its lookup returned', async () => {
    const dns = fakeDns({ 'receiver.test': ['127.0.0.1'] });
    const response = await post(`http://receiver.test:${port()}/hooks/approval`, ['receiver.test'], dns);
    expect(response.status).toBe(200);
    const [request] = await receiver.waitFor(1);
    expect(request!.headers.host).toBe(`receiver.test:${port()}`);
    expect(request!.body).toBe('{"ok":true}');
  });

  it('does not follow a redirect, even to a loopback port', async () => {
    receiver.answer(302, { location: other.url });
    const response = await post(receiver.url, [`127.0.0.1:${port()}`], fakeDns({}));
    expect(response.status).toBe(302);
    expect(receiver.received).toHaveLength(1);
    expect(other.connections).toBe(0);
  });

  it('refuses a stored URL with credentials instead of sending them as Basic auth', async () => {
    const url = receiver.url.replace('http://', 'http://agent7:s3cr3t@');
    const error = await post(url, ['127.0.0.1'], fakeDns({})).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCallbackRefusal(error)).toBe(true);
    expect(String(error)).not.toMatch(/s3cr3t|agent7/);
    expect(receiver.connections).toBe(0);
  });

  it('returns the receiver Retry-After', async () => {
    receiver.answer(429, { 'retry-after': '7' });
    expect(await post(receiver.url, ['127.0.0.1'], fakeDns({}))).toEqual({ status: 429, retryAfter: '7' });
  });
});
