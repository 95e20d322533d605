import ipaddr from 'ipaddr.js';

/**
 * IANA's global unicast block (RFC 4291 §2.4, the IPv6 address space registry). Everything
 * outside it is loopback, unspecified, multicast, link- or site-local, unique-local, or one of
 * the forms that carry an IPv4 address in their low bits (IPv4-compatible `::a.b.c.d`,
 * IPv4-mapped `::ffff:a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`). Those low bits
 * would let a public-looking IPv6 literal reach 127.0.0.1 or 10.x through a translator or a
 * dual-stack socket, so they are refused as a whole rather than unwrapped and judged.
 */
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');

/**
 * Why a callback may not connect to `address`, or undefined when it may: the name of the
 * special-purpose range it falls in (ipaddr.js's tables, which follow the IANA IPv4 and IPv6
 * special-purpose registries), `outside 2000::/3`, `zone id` or `not an IP address`.
 *
 * Only ipaddr.js's `unicast` counts as public. A few ranges IANA lists as globally reachable
 * (AS112 and AMT relays) are refused too: no callback receiver lives there, and inside 2000::/3
 * the special ranges that embed IPv4 (6to4 2002::/16, Teredo 2001::/32) are refused rather
 * than unwrapped, as issue 11 asks.
 *
 * @example nonPublicRange('::ffff:7f00:1') // 'ipv4Mapped'
 * @example nonPublicRange('93.184.216.34') // undefined
 */
export function nonPublicRange(address: string): string | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return 'not an IP address';
  }
  if (parsed instanceof ipaddr.IPv4) {
    const range = parsed.range();
    return range === 'unicast' ? undefined : range;
  }
  // A zone id only means something on a link-local address; fail closed on any.
  if (parsed.zoneId !== undefined) return 'zone id';
  const range = parsed.range();
  if (range !== 'unicast') return range;
  return parsed.match(GLOBAL_UNICAST_V6) ? undefined : 'outside 2000::/3';
}

/** Whether a callback may connect to `address` without the key's allow-list naming its host. */
export const isPublicAddress = (address: string): boolean => nonPublicRange(address) === undefined;
