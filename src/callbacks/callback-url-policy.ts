import type { LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { isIP, type LookupFunction } from 'node:net';
import { CountersignError, unprocessable } from '../primitives/errors.ts';
import { nonPublicRange } from './public-address.ts';

/**
 * The addresses a host name resolves to. Injected (services.resolveHost) so tests can play a
 * DNS server that changes its answer between intake and delivery (rebinding) without touching
 * /etc/hosts or the network.
 */
export type HostResolver = (hostname: string) => Promise<string[]>;

export const resolveWithDns: HostResolver = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** The error code of a destination this policy refuses; a delivery refused so goes dead at once. */
const REFUSED = 'callback_not_allowed';

/** Where a callback goes, and how far the key trusts it. */
export interface CallbackDestination {
  readonly url: URL;
  /** The host as resolved and connected to: IPv6 without brackets. */
  readonly hostname: string;
  /** The key's `--callback-hosts` names this host: any address it resolves to may be called. */
  readonly allowListed: boolean;
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };

/**
 * One `--callback-hosts` entry in the form URLs are compared in: a lower-case (punycode) host
 * name, a canonical IPv4 address, a bracketed IPv6 address, each with `:port` when one was
 * given (an entry without a port allows every port). `::1` and `[::1]` are the same entry;
 * so are `0x7f.1` and `127.0.0.1`, since that is what the URL parser makes of either.
 *
 * @example normalizeCallbackHost('Hooks.Example.com:443') // 'hooks.example.com:443'
 */
export function normalizeCallbackHost(entry: string): string {
  const trimmed = entry.trim();
  const authority = isIP(trimmed) === 6 ? `[${trimmed}]` : trimmed;
  let url: URL | undefined;
  try {
    url = new URL(`http://${authority}`);
  } catch {
    url = undefined;
  }
  if (!url || trimmed === '' || url.username || url.password || url.pathname !== '/' || url.search || url.hash) {
    throw unprocessable('invalid_callback_hosts', `callbackHosts: "${trimmed}" is not a host or host:port (for example hooks.example.com or 127.0.0.1:9000)`);
  }
  // The URL parser drops a port that is the scheme's default, but `host:80` allows port 80 only.
  const port = /(?:^|[^:]|\]):(\d+)$/.exec(authority)?.[1];
  return port === undefined ? url.hostname : `${url.hostname}:${Number(port)}`;
}

function isAllowListed(url: URL, allowHosts: readonly string[]): boolean {
  const withPort = `${url.hostname}:${url.port || DEFAULT_PORTS[url.protocol] || ''}`;
  return allowHosts.some((entry) => {
    let wanted: string;
    try {
      // Keys created before entries were normalised hold them as typed.
      wanted = normalizeCallbackHost(entry);
    } catch {
      return false;
    }
    return wanted === url.hostname || wanted === withPort;
  });
}

/**
 * Where `rawUrl` sends a callback for a key with `allowHosts`. A key with an allow-list may call
 * only those hosts (internal ones included: the admin said so); a key without one may call any
 * host whose addresses are all public. Throws a 422 naming `callbackUrl` for a host outside the
 * key's list; the address check happens when the host is resolved.
 */
export function callbackDestination(rawUrl: string, allowHosts: readonly string[]): CallbackDestination {
  const url = new URL(rawUrl);
  // The intake schema refuses these; a row stored before it did must not send them as Basic auth.
  if (url.username !== '' || url.password !== '') throw unprocessable(REFUSED, 'callbackUrl: must not contain credentials');
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  if (allowHosts.length === 0) return { url, hostname, allowListed: false };
  if (isAllowListed(url, allowHosts)) return { url, hostname, allowListed: true };
  throw unprocessable(REFUSED, `callbackUrl: host ${url.host} is not in this key's callback hosts (${allowHosts.join(', ')})`);
}

/** RFC 6761 §6.3: `localhost` names are loopback whatever a resolver says; no DNS is asked. */
const isLocalhostName = (hostname: string) => hostname === 'localhost' || hostname.endsWith('.localhost');

/**
 * The addresses a callback to `destination` may connect to: every address its host resolves to,
 * refused with a 422 when any of them is not public (unless the host is allow-listed). All of
 * them, not the first: the connection may use any. The message names the kind of range but
 * never the address a name resolved to, so an intake key cannot read internal DNS through it.
 */
export async function resolveCallbackAddresses(destination: CallbackDestination, resolve: HostResolver): Promise<string[]> {
  const { hostname, url } = destination;
  const literal = isIP(hostname) !== 0;
  let addresses: string[];
  if (literal) addresses = [hostname];
  else if (isLocalhostName(hostname)) addresses = ['127.0.0.1', '::1'];
  else {
    try {
      addresses = await resolve(hostname);
    } catch (error) {
      throw new CountersignError(422, 'callback_unresolvable', `callbackUrl: host ${hostname} does not resolve`, { cause: error });
    }
  }
  if (addresses.length === 0) throw unprocessable('callback_unresolvable', `callbackUrl: host ${hostname} does not resolve`);
  if (destination.allowListed) return addresses;
  for (const address of addresses) {
    const range = nonPublicRange(address);
    if (range === undefined) continue;
    const what = literal ? `${hostname} is an address` : isLocalhostName(hostname) ? `${hostname} is loopback, an address` : `${hostname} resolves to an address`;
    throw unprocessable(REFUSED, `callbackUrl: ${what} in a non-public range (${range}) that callbacks may not reach; an admin can allow this host with keys create --callback-hosts ${url.hostname} (every port: an agent's receiver often listens on a new one each run)`);
  }
  return addresses;
}

/** Whether `error` is this policy refusing a destination (as opposed to DNS or the network failing). */
export const isCallbackRefusal = (error: unknown): boolean => error instanceof CountersignError && error.code === REFUSED;

/**
 * The intake check: a clear 422 naming `callbackUrl` before anything is written. It does not
 * make the callback safe on its own (DNS can answer differently by the time it is sent): the
 * delivery checks again, in `callbackLookup`, on the addresses it connects to.
 */
export async function checkCallbackUrl(rawUrl: string, allowHosts: readonly string[], resolve: HostResolver = resolveWithDns): Promise<void> {
  const destination = callbackDestination(rawUrl, allowHosts);
  // Any address of a listed host may be called: asking DNS now could only fail an intake
  // because of a resolver hiccup that delivery's own lookup, with its retries, rides out.
  if (destination.allowListed) return;
  await resolveCallbackAddresses(destination, resolve);
}

/**
 * The `lookup` of the HTTP request that delivers a callback: it resolves the host, refuses the
 * connection unless every address passes `resolveCallbackAddresses`, and hands the socket
 * exactly those addresses. There is no second resolution between the check and the connect, so
 * a DNS answer that changes (rebinding, a short TTL) cannot slip a private address in.
 *
 * Node connects to an IP literal without calling `lookup`: check literals before the request.
 */
export function callbackLookup(destination: CallbackDestination, resolve: HostResolver): LookupFunction {
  return (hostname, options, callback) => {
    // Only the destination's own host carries its allow-listing; the agent never asks for another.
    const target = hostname === destination.hostname ? destination : { ...destination, hostname, allowListed: false };
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : (options.family ?? 0);
    resolveCallbackAddresses(target, resolve).then(
      (addresses) => {
        const usable: LookupAddress[] = addresses.map((address) => ({ address, family: isIP(address) })).filter((a) => a.family !== 0 && (family === 0 || a.family === family));
        const first = usable[0];
        if (!first) return callback(Object.assign(new Error(`callbackUrl: host ${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), '', 0);
        if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (error: Error) => callback(error, '', 0),
    );
  };
}
