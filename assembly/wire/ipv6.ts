// IPv6 fixed header (RFC 8200 §3), the inner packet of an IPv6-in-IPv4 tunnel.
//
// One validator, ipv6Check(ptr, len); accessors after it read without checks (STYLE
// habit 2). Extension headers are walked in ipv6_ext.ts.

// ── Specification constants (RFC 8200 §3) ───────────────────────────────────────────────
export const IPV6_VER_TC_FLOW: i32 = 0; // version (4) ‖ traffic class (8) ‖ flow label (20)
export const IPV6_PAYLOAD_LEN: i32 = 4;
export const IPV6_NEXT_HEADER: i32 = 6;
export const IPV6_HOP_LIMIT: i32 = 7;
export const IPV6_SRC: i32 = 8;
export const IPV6_DST: i32 = 24;
export const IPV6_HDR_LEN: i32 = 40;
export const IPV6_ADDR_LEN: i32 = 16;
export const IPV6_FLOW_MASK: u32 = 0x000fffff;

// ── Validation codes (0 = valid), in the order ipv6Check tests them ─────────────────────
/** Fewer than 40 bytes: no room for the fixed header. */
export const IPV6_ERR_RUNT: i32 = -21;
/** Version field is not 6. */
export const IPV6_ERR_BAD_VERSION: i32 = -22;
/** 40 + payload length exceeds the buffer (bytes beyond it are allowed, e.g. link padding). */
export const IPV6_ERR_PAYLOAD_TRUNC: i32 = -23;

/**
 * The one validator:
 *   1. len ≥ 40                      IPV6_ERR_RUNT
 *   2. version = 6                   IPV6_ERR_BAD_VERSION
 *   3. 40 + payload length ≤ len     IPV6_ERR_PAYLOAD_TRUNC
 * Payload length 0 is accepted as an empty payload; jumbograms (RFC 2675) cannot occur
 * inside an IPv4 datagram of at most 65535 bytes and are not recognised.
 */
export function ipv6Check(ptr: usize, len: i32): i32 {
  if (len < IPV6_HDR_LEN) return IPV6_ERR_RUNT;
  if (load<u8>(ptr, IPV6_VER_TC_FLOW) >> 4 != 6) return IPV6_ERR_BAD_VERSION;
  if (IPV6_HDR_LEN + <i32>bswap<u16>(load<u16>(ptr, IPV6_PAYLOAD_LEN)) > len) return IPV6_ERR_PAYLOAD_TRUNC;
  return 0;
}

// ── Accessors: valid after ipv6Check(ptr, len) == 0 ─────────────────────────────────────
/** Traffic class octet: DSCP (6) ‖ ECN (2) (RFC 8200 §7, RFC 3168). */
@inline export function ipv6TrafficClass(ptr: usize): i32 {
  return <i32>((bswap<u32>(load<u32>(ptr, IPV6_VER_TC_FLOW)) >> 20) & 0xff);
}
@inline export function ipv6Ecn(ptr: usize): i32 {
  return ipv6TrafficClass(ptr) & 3;
}
@inline export function ipv6FlowLabel(ptr: usize): i32 {
  return <i32>(bswap<u32>(load<u32>(ptr, IPV6_VER_TC_FLOW)) & IPV6_FLOW_MASK);
}
@inline export function ipv6PayloadLen(ptr: usize): i32 {
  return <i32>bswap<u16>(load<u16>(ptr, IPV6_PAYLOAD_LEN));
}
/** 40 + payload length: the bytes that belong to this packet. */
@inline export function ipv6TotalLen(ptr: usize): i32 {
  return IPV6_HDR_LEN + ipv6PayloadLen(ptr);
}
@inline export function ipv6NextHeader(ptr: usize): i32 {
  return <i32>load<u8>(ptr, IPV6_NEXT_HEADER);
}
@inline export function ipv6HopLimit(ptr: usize): i32 {
  return <i32>load<u8>(ptr, IPV6_HOP_LIMIT);
}
/** Pointer to the 16-byte source address. */
@inline export function ipv6Src(ptr: usize): usize {
  return ptr + IPV6_SRC;
}
/** Pointer to the 16-byte destination address. */
@inline export function ipv6Dst(ptr: usize): usize {
  return ptr + IPV6_DST;
}
