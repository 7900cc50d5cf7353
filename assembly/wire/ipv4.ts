// IPv4 (RFC 791, RFC 1122) as the outer header of an IPv6-in-IPv4 tunnel (RFC 4213 §3).
//
// One validator, ipv4Check(ptr, len), encodes every length rule in smoltcp's
// Ipv4Packet::check_len order; the accessors after it read without further checks
// (STYLE habit 2). ipv4Encap writes a fresh header and never calls the validator.

import { csumPartial, csumFinish } from "./checksum";

// ── Specification constants (RFC 791 §3.1 header format) ────────────────────────────────
export const IPV4_VER_IHL: i32 = 0; // version (4 bits) ‖ IHL (4 bits, 32-bit words)
export const IPV4_TOS: i32 = 1; // DSCP (6) ‖ ECN (2) (RFC 2474, RFC 3168 §5)
export const IPV4_TOTAL_LEN: i32 = 2;
export const IPV4_IDENT: i32 = 4;
export const IPV4_FLAGS_FRAG: i32 = 6; // flags (3 bits) ‖ fragment offset (13 bits, 8-octet units)
export const IPV4_TTL: i32 = 8;
export const IPV4_PROTOCOL: i32 = 9;
export const IPV4_CHECKSUM: i32 = 10;
export const IPV4_SRC: i32 = 12;
export const IPV4_DST: i32 = 16;
/** RFC 791: minimum header, IHL = 5. */
export const IPV4_HDR_LEN: i32 = 20;
export const IPV4_MIN_IHL: i32 = 5;
export const IPV4_MAX_TOTAL_LEN: i32 = 65535;
export const IPV4_FLAG_RESERVED: u32 = 0x8000;
export const IPV4_FLAG_DF: u32 = 0x4000;
export const IPV4_FLAG_MF: u32 = 0x2000;
export const IPV4_FRAG_OFFSET_MASK: u32 = 0x1fff;
export const ECN_MASK: u32 = 0x03; // RFC 3168 §5
// IANA protocol numbers.
export const IPPROTO_IPV6: i32 = 41; // RFC 4213 §3.5
export const IPPROTO_ESP: i32 = 50; // RFC 4303, RFC 4891 transport mode
export const IPPROTO_UDP: i32 = 17; // RFC 3948
/** RFC 4213 §3.3: "the current suggested value published in Assigned Numbers" (RFC 1700: 64). */
export const IPV4_DEFAULT_TTL: i32 = 64;

// ── Validation codes (0 = valid), in the order ipv4Check tests them ─────────────────────
/** Fewer than 20 bytes: no room for the fixed header. */
export const IPV4_ERR_RUNT: i32 = -11;
/** Version field is not 4. */
export const IPV4_ERR_BAD_VERSION: i32 = -12;
/** IHL < 5 (RFC 791: minimum value of a correct header is 5). */
export const IPV4_ERR_BAD_IHL: i32 = -13;
/** IHL*4 bytes of header do not fit in the buffer. */
export const IPV4_ERR_HDR_TRUNC: i32 = -14;
/** Total length smaller than the header length IHL*4. */
export const IPV4_ERR_TOTAL_LT_HDR: i32 = -15;
/** Total length larger than the buffer (bytes beyond total length are allowed: link padding). */
export const IPV4_ERR_TOTAL_TRUNC: i32 = -16;
/** Header checksum does not verify (RFC 1122 §3.2.1.2: MUST verify, silently discard). */
export const IPV4_ERR_BAD_CHECKSUM: i32 = -17;
// ipv4Encap argument errors (nothing is written).
/** 20 + payload would exceed 65535. */
export const IPV4_ERR_TOO_BIG: i32 = -18;
/** TTL 0 (RFC 1122 §3.2.1.7: a host MUST NOT send TTL 0) or > 255. */
export const IPV4_ERR_BAD_TTL: i32 = -19;
/** Protocol outside 0..255. */
export const IPV4_ERR_BAD_PROTO: i32 = -20;

/**
 * The one validator (smoltcp check_len order, then version and checksum as Ipv4Repr::parse):
 *   1. len ≥ 20                 IPV4_ERR_RUNT
 *   2. version = 4              IPV4_ERR_BAD_VERSION
 *   3. IHL ≥ 5                  IPV4_ERR_BAD_IHL
 *   4. len ≥ IHL*4              IPV4_ERR_HDR_TRUNC
 *   5. total length ≥ IHL*4     IPV4_ERR_TOTAL_LT_HDR
 *   6. len ≥ total length       IPV4_ERR_TOTAL_TRUNC
 *   7. header checksum = 0      IPV4_ERR_BAD_CHECKSUM (over the IHL*4 bytes, options included)
 * Reads only; never writes the buffer. Options are not interpreted.
 */
export function ipv4Check(ptr: usize, len: i32): i32 {
  if (len < IPV4_HDR_LEN) return IPV4_ERR_RUNT;
  const vi = <u32>load<u8>(ptr, IPV4_VER_IHL);
  if (vi >> 4 != 4) return IPV4_ERR_BAD_VERSION;
  const hl = <i32>(vi & 0xf) << 2;
  if (hl < IPV4_HDR_LEN) return IPV4_ERR_BAD_IHL;
  if (len < hl) return IPV4_ERR_HDR_TRUNC;
  const total = <i32>bswap<u16>(load<u16>(ptr, IPV4_TOTAL_LEN));
  if (total < hl) return IPV4_ERR_TOTAL_LT_HDR;
  if (len < total) return IPV4_ERR_TOTAL_TRUNC;
  if (csumFinish(csumPartial(ptr, hl, 0)) != 0) return IPV4_ERR_BAD_CHECKSUM;
  return 0;
}

// ── Accessors: valid after ipv4Check(ptr, len) == 0 ─────────────────────────────────────
/** Header length in bytes (IHL × 4) = offset of the payload. */
@inline export function ipv4HeaderLen(ptr: usize): i32 {
  return <i32>(load<u8>(ptr, IPV4_VER_IHL) & 0xf) << 2;
}
/** Same as ipv4HeaderLen: where the payload starts. */
@inline export function ipv4PayloadOffset(ptr: usize): i32 {
  return ipv4HeaderLen(ptr);
}
@inline export function ipv4TotalLen(ptr: usize): i32 {
  return <i32>bswap<u16>(load<u16>(ptr, IPV4_TOTAL_LEN));
}
/** Total length − header length. */
@inline export function ipv4PayloadLen(ptr: usize): i32 {
  return ipv4TotalLen(ptr) - ipv4HeaderLen(ptr);
}
@inline export function ipv4Dscp(ptr: usize): i32 {
  return <i32>load<u8>(ptr, IPV4_TOS) >> 2;
}
/** RFC 3168 §5: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE. */
@inline export function ipv4Ecn(ptr: usize): i32 {
  return <i32>load<u8>(ptr, IPV4_TOS) & <i32>ECN_MASK;
}
@inline export function ipv4Ident(ptr: usize): i32 {
  return <i32>bswap<u16>(load<u16>(ptr, IPV4_IDENT));
}
/** The 3 flag bits: 4 = reserved, 2 = DF, 1 = MF. */
@inline export function ipv4Flags(ptr: usize): i32 {
  return <i32>load<u8>(ptr, IPV4_FLAGS_FRAG) >> 5;
}
@inline export function ipv4Df(ptr: usize): bool {
  return (bswap<u16>(load<u16>(ptr, IPV4_FLAGS_FRAG)) & <u16>IPV4_FLAG_DF) != 0;
}
@inline export function ipv4Mf(ptr: usize): bool {
  return (bswap<u16>(load<u16>(ptr, IPV4_FLAGS_FRAG)) & <u16>IPV4_FLAG_MF) != 0;
}
/** Fragment offset in bytes (the field × 8, RFC 791). */
@inline export function ipv4FragOffset(ptr: usize): i32 {
  return <i32>(bswap<u16>(load<u16>(ptr, IPV4_FLAGS_FRAG)) & <u16>IPV4_FRAG_OFFSET_MASK) << 3;
}
/** RFC 791 §3.2: a fragment has MF set or a non-zero offset (a reassembler's test). */
@inline export function ipv4IsFragment(ptr: usize): bool {
  return (bswap<u16>(load<u16>(ptr, IPV4_FLAGS_FRAG)) & <u16>(IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) != 0;
}
@inline export function ipv4Ttl(ptr: usize): i32 {
  return <i32>load<u8>(ptr, IPV4_TTL);
}
@inline export function ipv4Proto(ptr: usize): i32 {
  return <i32>load<u8>(ptr, IPV4_PROTOCOL);
}
/** Source address as a host-order u32 (192.0.2.1 → 0xc0000201). */
@inline export function ipv4Src(ptr: usize): u32 {
  return bswap<u32>(load<u32>(ptr, IPV4_SRC));
}
@inline export function ipv4Dst(ptr: usize): u32 {
  return bswap<u32>(load<u32>(ptr, IPV4_DST));
}

/**
 * Write a 20-byte IPv4 header at ptr for payloadLen bytes that follow it (RFC 4213 §3.5);
 * returns the total length, or a negative code with nothing written.
 *
 *   - Version 4, IHL 5, no options (RFC 4213 §3.5: options are not generated).
 *   - TOS: DSCP 0 (RFC 4213 §3.5 "0 unless otherwise specified"); ECN copied from the inner
 *     traffic class, CE included (RFC 6040 §4.1 normal mode; RFC 3168's reset of CE to ECT(0)
 *     is gone). Only the two ECN bits of innerTrafficClass are used.
 *   - Identification = id (RFC 6864: the caller keeps it unique for non-atomic datagrams).
 *   - DF: the caller decides, because RFC 4213 §3.2 ties it to the MTU mode: with the static
 *     tunnel MTU (§3.2.1) DF MUST NOT be set (df = 0); with dynamic tunnel MTU (§3.2.2) the
 *     encapsulator sets DF (df = 1) except when it chose to fragment to reach 1280.
 *     MF and fragment offset are 0: this writes whole datagrams.
 *   - TTL = ttl (RFC 4213 §3.3: implementation-dependent, configurable; IPV4_DEFAULT_TTL).
 *   - Protocol = proto (41 for plain 6in4, 50 for ESP per RFC 4891, 17 for RFC 3948).
 *   - Header checksum computed (RFC 791, RFC 1071).
 * src and dst are host-order u32s.
 */
export function ipv4Encap(
  ptr: usize, payloadLen: i32, src: u32, dst: u32, proto: i32, ttl: i32, df: i32, innerTrafficClass: i32, id: i32,
): i32 {
  if (payloadLen < 0 || payloadLen > IPV4_MAX_TOTAL_LEN - IPV4_HDR_LEN) return IPV4_ERR_TOO_BIG;
  if (ttl <= 0 || ttl > 255) return IPV4_ERR_BAD_TTL;
  if (proto < 0 || proto > 255) return IPV4_ERR_BAD_PROTO;
  const total = payloadLen + IPV4_HDR_LEN;
  store<u8>(ptr, 0x45, IPV4_VER_IHL);
  store<u8>(ptr, <u8>(<u32>innerTrafficClass & ECN_MASK), IPV4_TOS);
  store<u16>(ptr, bswap<u16>(<u16>total), IPV4_TOTAL_LEN);
  store<u16>(ptr, bswap<u16>(<u16>id), IPV4_IDENT);
  store<u16>(ptr, bswap<u16>(df != 0 ? <u16>IPV4_FLAG_DF : 0), IPV4_FLAGS_FRAG);
  store<u8>(ptr, <u8>ttl, IPV4_TTL);
  store<u8>(ptr, <u8>proto, IPV4_PROTOCOL);
  store<u16>(ptr, 0, IPV4_CHECKSUM);
  store<u32>(ptr, bswap<u32>(src), IPV4_SRC);
  store<u32>(ptr, bswap<u32>(dst), IPV4_DST);
  const c = csumFinish(csumPartial(ptr, IPV4_HDR_LEN, 0));
  store<u16>(ptr, bswap<u16>(<u16>c), IPV4_CHECKSUM);
  return total;
}
