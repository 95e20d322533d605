import { describe, expect, it } from 'vitest';
import { isPublicAddress, nonPublicRange } from '../../../src/callbacks/public-address.ts';

// Only judged, never connected to: the table is pure data.
const refused: Array<[string, string]> = [
  // IPv4 special-purpose registry
  ['0.0.0.0', 'unspecified'],
  ['0.1.2.3', '"this network" 0/8'],
  ['10.0.0.1', 'private'],
  ['100.64.0.1', 'carrier-grade NAT'],
  ['100.127.255.254', 'carrier-grade NAT, last'],
  ['127.0.0.1', 'loopback'],
  ['127.255.255.254', 'loopback, last'],
  ['169.254.169.254', 'link-local (cloud metadata)'],
  ['172.16.0.1', 'private'],
  ['172.31.255.255', 'private, last'],
  ['192.0.0.1', 'IETF protocol assignments 192.0.0/24'],
  ['192.0.0.170', 'NAT64 discovery'],
  ['192.0.2.1', 'documentation TEST-NET-1'],
  ['192.88.99.1', '6to4 relay anycast'],
  ['192.168.1.1', 'private'],
  ['198.18.0.1', 'benchmarking'],
  ['198.19.255.255', 'benchmarking, last'],
  ['198.51.100.7', 'documentation TEST-NET-2'],
  ['203.0.113.9', 'documentation TEST-NET-3'],
  ['224.0.0.1', 'multicast'],
  ['239.255.255.250', 'multicast (SSDP)'],
  ['240.0.0.1', 'reserved 240/4'],
  ['255.255.255.255', 'broadcast'],
  // Odd IPv4 spellings a resolver or inet_aton accepts
  ['127.1', 'short form'],
  ['0x7f.1', 'hex short form'],
  ['0x7f000001', 'hex integer'],
  ['2130706433', 'decimal integer'],
  ['0177.0.0.1', 'octal'],
  // IPv6 special-purpose registry
  ['::', 'unspecified'],
  ['::1', 'loopback'],
  ['0:0:0:0:0:0:0:1', 'loopback, long form'],
  ['::ffff:7f00:1', 'IPv4-mapped loopback, hex'],
  ['::ffff:127.0.0.1', 'IPv4-mapped loopback, dotted'],
  ['::FFFF:127.0.0.1', 'IPv4-mapped, upper case'],
  ['0:0:0:0:0:ffff:127.0.0.1', 'IPv4-mapped, long form'],
  ['0000:0000:0000:0000:0000:ffff:7f00:0001', 'IPv4-mapped, zero-padded'],
  ['::ffff:10.0.0.1', 'IPv4-mapped private'],
  ['::ffff:8.8.8.8', 'IPv4-mapped public: refused as a whole'],
  ['::ffff:127.0.0.1%eth0', 'IPv4-mapped with a zone id'],
  ['::127.0.0.1', 'IPv4-compatible, dotted'],
  ['::7f00:1', 'IPv4-compatible, hex'],
  ['::8.8.8.8', 'IPv4-compatible public'],
  ['::ffff:0:7f00:1', 'SIIT IPv4-translated'],
  ['64:ff9b::7f00:1', 'NAT64 well-known prefix'],
  ['64:ff9b::8.8.8.8', 'NAT64 of a public address'],
  ['64:ff9b:1::a00:1', 'NAT64 local-use 64:ff9b:1::/48'],
  ['2002:7f00:1::1', '6to4 of loopback'],
  ['2002:808:808::1', '6to4 of a public address'],
  ['2001::1', 'Teredo'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo, full'],
  ['2001:1::1', 'IETF protocol assignments 2001::/23'],
  ['2001:2::1', 'benchmarking'],
  ['2001:3::1', 'AMT'],
  ['2001:10::1', 'ORCHID (deprecated)'],
  ['2001:20::1', 'ORCHIDv2'],
  ['2001:db8::1', 'documentation'],
  ['3fff::1', 'documentation 3fff::/20'],
  ['100::1', 'discard-only 100::/64'],
  ['5f00::1', 'segment routing'],
  ['fc00::1', 'unique local'],
  ['fd12:3456:789a::1', 'unique local'],
  ['fe80::1', 'link-local'],
  ['fe80::1%eth0', 'link-local with a zone id'],
  ['febf::1', 'link-local, last'],
  ['fec0::1', 'site-local (deprecated)'],
  ['feff::1', 'site-local, last'],
  ['ff02::1', 'multicast'],
  ['ff0e::1', 'multicast, global scope'],
  ['4000::1', 'unassigned, outside 2000::/3'],
  ['2606:4700:4700::1111%eth0', 'public, but with a zone id'],
  // Not addresses at all
  ['', 'empty'],
  ['localhost', 'a name'],
  ['1.2.3.4.5', 'five parts'],
  ['[::1]', 'bracketed (a URL host, not an address)'],
];

const allowed = ['93.184.216.34', '8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '2001:4860:4860::8888', '2a00:1450:4001:82b::200e'];

describe('nonPublicRange', () => {
  it.each(refused)('refuses %s (%s)', (address) => {
    expect(nonPublicRange(address)).toBeTypeOf('string');
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(allowed)('allows the public address %s', (address) => {
    expect(nonPublicRange(address)).toBeUndefined();
    expect(isPublicAddress(address)).toBe(true);
  });

  it('names the range it refused', () => {
    expect(nonPublicRange('127.0.0.1')).toBe('loopback');
    expect(nonPublicRange('::ffff:7f00:1')).toBe('ipv4Mapped');
    expect(nonPublicRange('::7f00:1')).toBe('outside 2000::/3');
    expect(nonPublicRange('fec0::1')).toBe('deprecatedSiteLocal');
  });
});
