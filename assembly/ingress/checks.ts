// The address checks a decapsulator makes (RFC 4213 §3.6, RFC 4891 §2):
//
//   threat 1 — the outer IPv4 source is spoofed: the IPv4 source must be the configured
//              tunnel endpoint (ipv4SourceCheck);
//   threat 2 — the inner IPv6 source is spoofed: it must be a valid unicast address
//              (ipv6SourceCheck), then lie in a prefix allowed on this tunnel (prefix.ts).
//
// Both are pure: they read addresses and return 0 or a named negative code.

import { IPV4_SRC } from "../wire/ipv4";

// ── Codes ───────────────────────────────────────────────────────────────────────────────
/** :: (RFC 4291 §2.5.2): never a source of a forwarded packet. */
export const SRC_ERR_UNSPECIFIED: i32 = -41;
/** ::1 (RFC 4291 §2.5.3): must never leave a node. */
export const SRC_ERR_LOOPBACK: i32 = -42;
/** ff00::/8 (RFC 4291 §2.7): a multicast address is never a source. */
export const SRC_ERR_MULTICAST: i32 = -43;
/** ::ffff:0:0/96 IPv4-mapped (RFC 4291 §2.5.5.2): not used on the wire. */
export const SRC_ERR_V4_MAPPED: i32 = -44;
/** ::/96 other than :: and ::1, IPv4-compatible (RFC 4291 §2.5.5.1, deprecated). */
export const SRC_ERR_V4_COMPAT: i32 = -45;
/** The outer IPv4 source is not the configured tunnel endpoint (RFC 4213 §3.6). */
export const SRC_ERR_OUTER_SRC: i32 = -46;

/**
 * RFC 4213 §3.6 / RFC 4891 §2 threat 2: is the 16-byte inner source at addrPtr a valid
 * unicast source? 0 if so, else the class it falls in:
 *   ff00::/8        SRC_ERR_MULTICAST
 *   ::              SRC_ERR_UNSPECIFIED
 *   ::1             SRC_ERR_LOOPBACK
 *   ::/96 (others)  SRC_ERR_V4_COMPAT
 *   ::ffff:0:0/96   SRC_ERR_V4_MAPPED
 * Everything else passes here (link-local fe80::/10 included: routing protocols and ND over
 * the tunnel use it); which global prefixes a tunnel may carry is the ingress filter's job.
 */
export function ipv6SourceCheck(addrPtr: usize): i32 {
  const hi = bswap<u64>(load<u64>(addrPtr));
  if ((hi >> 56) == 0xff) return SRC_ERR_MULTICAST;
  if (hi != 0) return 0;
  const lo = bswap<u64>(load<u64>(addrPtr, 8));
  const w = <u32>(lo >> 32); // bits 64..95
  if (w == 0x0000ffff) return SRC_ERR_V4_MAPPED;
  if (w != 0) return 0;
  const v4 = <u32>lo; // the low 32 bits
  if (v4 == 0) return SRC_ERR_UNSPECIFIED;
  if (v4 == 1) return SRC_ERR_LOOPBACK;
  return SRC_ERR_V4_COMPAT;
}

/**
 * RFC 4213 §3.6 / RFC 4891 §2 threat 1: the IPv4 source of the (ipv4Check'ed) outer header
 * at ipv4Ptr must equal the tunnel's configured remote endpoint (host-order u32). Such
 * packets are discarded without an ICMPv4 error (RFC 4213 §3.6). 0 or SRC_ERR_OUTER_SRC.
 * In tunnel mode RFC 4891 §2.2 makes the outer address irrelevant once the SA verified;
 * transport mode and clear 6in4 need this check.
 */
export function ipv4SourceCheck(ipv4Ptr: usize, remoteEndpoint: u32): i32 {
  return bswap<u32>(load<u32>(ipv4Ptr, IPV4_SRC)) == remoteEndpoint ? 0 : SRC_ERR_OUTER_SRC;
}
