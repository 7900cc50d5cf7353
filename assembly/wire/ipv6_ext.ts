// IPv6 extension headers (RFC 8200 §4): walk the chain to the upper-layer header.
//
// Every header's fixed part and declared length are checked against the packet's end
// (40 + payload length) before anything past them is read, and the walk stops after
// EXT_MAX_HEADERS headers. Reads only.

import { IPV6_HDR_LEN, IPV6_NEXT_HEADER, IPV6_PAYLOAD_LEN } from "./ipv6";

// ── Specification constants: IANA "IPv6 Extension Header Types" ────────────────────────
export const NH_HOP_BY_HOP: i32 = 0; // RFC 8200 §4.3
export const NH_ROUTING: i32 = 43; // RFC 8200 §4.4
export const NH_FRAGMENT: i32 = 44; // RFC 8200 §4.5
export const NH_ESP: i32 = 50; // RFC 4303: the rest is encrypted, the walk stops
export const NH_AH: i32 = 51; // RFC 4302
export const NH_NO_NEXT: i32 = 59; // RFC 8200 §4.7: nothing follows
export const NH_DEST_OPTS: i32 = 60; // RFC 8200 §4.6
export const NH_MOBILITY: i32 = 135; // RFC 6275 §6.1 (RFC 8200 §4.8 format)
export const NH_HIP: i32 = 139; // RFC 7401 (RFC 8200 §4.8 format)
export const NH_SHIM6: i32 = 140; // RFC 5533 (RFC 8200 §4.8 format)
/** Every extension header is a multiple of 8 octets (RFC 8200 §4; AH for IPv6: RFC 4302 §2.2). */
export const EXT_UNIT: i32 = 8;
/** RFC 8200 §4.5: fragment header is 8 octets. */
export const FRAG_HDR_LEN: i32 = 8;
export const FRAG_OFFSET_FLAGS: i32 = 2; // fragment offset (13 bits) ‖ res (2) ‖ M (1)

// ── Implementation constants ────────────────────────────────────────────────────────────
/** Cap on extension headers walked (RFC 8504 §5.3 lets receivers limit the chain). */
export const EXT_MAX_HEADERS: i32 = 16;

// ── Codes ───────────────────────────────────────────────────────────────────────────────
/** Fewer than 8 bytes left where an extension header starts. */
export const EXT_ERR_TRUNC_HDR: i32 = -31;
/** An extension header's declared length runs past the packet. */
export const EXT_ERR_TRUNC_LEN: i32 = -32;
/** Hop-by-Hop Options not directly after the IPv6 header (RFC 8200 §4.1). */
export const EXT_ERR_HBH_NOT_FIRST: i32 = -33;
/** More than EXT_MAX_HEADERS extension headers. */
export const EXT_ERR_TOO_MANY: i32 = -34;
/** AH length not a multiple of 8 octets (RFC 4302 §2.2, IPv6). */
export const EXT_ERR_BAD_AH_LEN: i32 = -35;
/** The buffer is shorter than 40 bytes or than 40 + payload length (run ipv6Check first). */
export const EXT_ERR_BAD_PACKET: i32 = -36;

// Results of the last walk (read by ipv6UpperProto / ipv6FragHeaderOffset).
let upperProto: i32 = -1;
let fragHdrOffset: i32 = 0;

/** Protocol number of the header at the offset the last ipv6UpperLayer returned. */
export function ipv6UpperProto(): i32 {
  return upperProto;
}
/** Offset of the fragment header seen by the last walk, 0 if none. */
export function ipv6FragHeaderOffset(): i32 {
  return fragHdrOffset;
}

/**
 * Walk the extension headers of the IPv6 packet at ptr (len bytes, already ipv6Check'ed)
 * and return the offset of the first header that is not walked through, with its protocol
 * number in ipv6UpperProto(). The walk goes through Hop-by-Hop (0, first only), Routing (43),
 * Destination Options (60), AH (51), Mobility/HIP/Shim6 (135/139/140) and first fragments
 * (44 with offset 0, RFC 8200 §4.5 / RFC 7112: the first fragment carries the whole chain).
 * It stops at:
 *   - ESP (50): proto 50, offset of the ESP header;
 *   - No Next Header (59): proto 59, offset where the payload would begin;
 *   - a non-first fragment: proto 44, offset of the fragment header (only a reassembler can
 *     go on);
 *   - anything else: an upper layer (6, 17, 58, 41, …), its offset; its own length is the
 *     upper layer's business. The offset may equal the packet end.
 * Negative codes EXT_ERR_* for a bad chain; the proto slot then holds -1.
 */
export function ipv6UpperLayer(ptr: usize, len: i32): i32 {
  upperProto = -1;
  fragHdrOffset = 0;
  if (len < IPV6_HDR_LEN) return EXT_ERR_BAD_PACKET;
  const end = IPV6_HDR_LEN + <i32>bswap<u16>(load<u16>(ptr, IPV6_PAYLOAD_LEN));
  if (end > len) return EXT_ERR_BAD_PACKET;
  let nh = <i32>load<u8>(ptr, IPV6_NEXT_HEADER);
  let off = IPV6_HDR_LEN;
  let n = 0;
  while (true) {
    let hlen: i32;
    switch (nh) {
      case NH_HOP_BY_HOP: {
        if (off != IPV6_HDR_LEN) return EXT_ERR_HBH_NOT_FIRST; // RFC 8200 §4.1
        // fall through: same format as the other options headers
      }
      case NH_ROUTING:
      case NH_DEST_OPTS:
      case NH_MOBILITY:
      case NH_HIP:
      case NH_SHIM6: {
        if (end - off < EXT_UNIT) return EXT_ERR_TRUNC_HDR;
        // RFC 8200 §4.3: Hdr Ext Len in 8-octet units, not including the first 8 octets.
        hlen = (<i32>load<u8>(ptr + off, 1) + 1) << 3;
        break;
      }
      case NH_FRAGMENT: {
        if (end - off < FRAG_HDR_LEN) return EXT_ERR_TRUNC_HDR;
        fragHdrOffset = off;
        // RFC 8200 §4.5: a non-first fragment does not start with the next header.
        if ((bswap<u16>(load<u16>(ptr + off, FRAG_OFFSET_FLAGS)) & 0xfff8) != 0) {
          upperProto = NH_FRAGMENT;
          return off;
        }
        hlen = FRAG_HDR_LEN;
        break;
      }
      case NH_AH: {
        if (end - off < EXT_UNIT) return EXT_ERR_TRUNC_HDR;
        // RFC 4302 §2.2: Payload Len in 32-bit words, minus 2.
        hlen = (<i32>load<u8>(ptr + off, 1) + 2) << 2;
        if ((hlen & (EXT_UNIT - 1)) != 0) return EXT_ERR_BAD_AH_LEN;
        break;
      }
      default: {
        // ESP (50), No Next Header (59) and every upper layer end the walk.
        upperProto = nh;
        return off;
      }
    }
    if (hlen > end - off) return EXT_ERR_TRUNC_LEN;
    if (++n > EXT_MAX_HEADERS) return EXT_ERR_TOO_MANY;
    nh = <i32>load<u8>(ptr + off);
    off += hlen;
  }
}
