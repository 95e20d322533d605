import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { unprocessable } from '../errors.ts';

/**
 * Addresses a callback must not reach unless the key's allow-list names the host: loopback,
 * private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, unspecified,
 * multicast and the IPv6 equivalents. Otherwise an intake key could make the server probe
 * its own network (SSRF).
 */
const internal = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) internal.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const) internal.addSubnet(net, prefix, 'ipv6');

export type HostResolver = (hostname: string) => Promise<string[]>;

export const resolveWithDns: HostResolver = async (hostname) => (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

function isInternalAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  // IPv4-mapped IPv6 (::ffff:127.0.0.1) is checked as the IPv4 address it carries.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return internal.check(mapped[1]!, 'ipv4');
  return internal.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** `host` or `host:port` entries of a key's `--callback-hosts`; a bare host allows every port. */
function isAllowListed(url: URL, allowHosts: readonly string[]): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return allowHosts.some((entry) => {
    const wanted = entry.toLowerCase();
    return wanted === host || wanted === url.host.toLowerCase();
  });
}

/**
 * Decides whether a callback may go to `rawUrl` for a key with `allowHosts`. A key with an
 * allow-list may call only those hosts (internal ones included: the admin said so); a key
 * without one may call any host that resolves to public addresses only. Checked at intake
 * and again before each delivery, since DNS can change in between.
 */
export async function checkCallbackUrl(rawUrl: string, allowHosts: readonly string[], resolve: HostResolver = resolveWithDns): Promise<void> {
  const url = new URL(rawUrl);
  if (allowHosts.length > 0) {
    if (isAllowListed(url, allowHosts)) return;
    throw unprocessable('callback_not_allowed', `callbackUrl: host ${url.host} is not in this key's callback hosts (${allowHosts.join(', ')})`);
  }
  const hostname = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(hostname)) addresses = [hostname];
  else if (hostname === 'localhost' || hostname.endsWith('.localhost')) addresses = ['127.0.0.1'];
  else {
    try {
      addresses = await resolve(hostname);
    } catch {
      throw unprocessable('callback_unresolvable', `callbackUrl: host ${hostname} does not resolve`);
    }
  }
  const blocked = addresses.find(isInternalAddress);
  if (blocked !== undefined) {
    throw unprocessable(
      'callback_not_allowed',
      `callbackUrl: ${hostname} is a private or loopback address (${blocked}); an admin can allow it with keys create --callback-hosts ${url.host}`,
    );
  }
}
