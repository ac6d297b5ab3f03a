/**
 * Which IP addresses a fetch may connect to. A service that checks domains named by untrusted users
 * must not become a way to reach the operator's internal network (SSRF), so such services turn on
 * `blockPrivate`; the CLI and the resolver daemon leave it off because their domains come from the
 * operator and tests run on loopback.
 */
import { BlockList, isIP } from 'node:net';

const NON_PUBLIC = new BlockList();
// IPv4 special-purpose ranges (RFC 6890 and successors) that a public mail domain never uses.
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16],
  ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15],
  ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) {
  NON_PUBLIC.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128], ['::1', 128], ['::ffff:0:0', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001:db8::', 32],
  ['fc00::', 7], ['fe80::', 10], ['ff00::', 8],
] as const) {
  NON_PUBLIC.addSubnet(net, bits, 'ipv6');
}

/** True for loopback, private, link-local, multicast, documentation and other non-public addresses. */
export function isNonPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true; // not an address at all: refuse rather than guess
  if (family === 6) {
    // An IPv4-mapped IPv6 address is judged by the IPv4 address inside it.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped?.[1]) return NON_PUBLIC.check(mapped[1], 'ipv4');
    return NON_PUBLIC.check(address, 'ipv6');
  }
  return NON_PUBLIC.check(address, 'ipv4');
}

export class AddressRefusedError extends Error {
  override readonly name = 'AddressRefusedError';
  constructor(readonly address: string) {
    super(`refusing to connect to non-public address ${address}`);
  }
}
