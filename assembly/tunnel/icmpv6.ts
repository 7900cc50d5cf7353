// ICMPv6 Packet Too Big (RFC 4443 §3.2) from the tunnel's encapsulator (RFC 4213 §3.2): an
// inner packet larger than the tunnel MTU is not sent; the sender learns the MTU instead.

import { csumPartial, csumFinish } from "../wire/checksum";
import { IPV6_HDR_LEN, IPV6_SRC, IPV6_DST, IPV6_NEXT_HEADER } from "../wire/ipv6";
import { ipv6SourceCheck } from "../ingress/checks";

export const ICMPV6: i32 = 58;
export const ICMPV6_PACKET_TOO_BIG: u8 = 2;
export const ICMPV6_HDR_LEN: i32 = 8;
/** RFC 4443 §3.2: as much of the invoking packet as fits in the minimum IPv6 MTU. */
export const ICMPV6_ERROR_MAX: i32 = 1280;
/** Hop limit of the error (RFC 4443 leaves it to the node; 64 as for other originated packets). */
export const ICMPV6_HOP_LIMIT: u8 = 64;

const pseudo: usize = memory.data(8, 8);

/**
 * May a Packet Too Big be sent about the packet at p? RFC 4443 §2.4 (e): not about an ICMPv6
 * error message, nor a packet whose source is not a unicast address (Packet Too Big is the
 * one error allowed for multicast destinations, so the destination does not matter).
 */
export function ptbAllowed(p: usize, len: i32): bool {
  if (ipv6SourceCheck(p + IPV6_SRC) != 0) return false;
  if (load<u8>(p + IPV6_NEXT_HEADER) == <u8>ICMPV6) {
    // Type < 128 is an error message (RFC 4443 §2.1).
    if (len < IPV6_HDR_LEN + 1 || load<u8>(p + IPV6_HDR_LEN) < 128) return false;
  }
  return true;
}

/**
 * Turn the invoking packet at buf+off (len bytes) into a Packet Too Big addressed to its
 * source, in place: the quoted part moves forward by 48 bytes and the headers go in front.
 * src6 is the tunnel interface's IPv6 address. Returns the new length, or 0 if the slot
 * (cap bytes from buf) has no room.
 */
export function packetTooBig(buf: usize, off: i32, len: i32, cap: i32, mtu: u32, src6: usize): i32 {
  const quote = min(len, ICMPV6_ERROR_MAX - IPV6_HDR_LEN - ICMPV6_HDR_LEN);
  const total = IPV6_HDR_LEN + ICMPV6_HDR_LEN + quote;
  if (off + total > cap) return 0;
  const p = buf + <usize>off;
  memory.copy(p + IPV6_HDR_LEN + ICMPV6_HDR_LEN, p, <usize>quote);
  const q = p + IPV6_HDR_LEN + ICMPV6_HDR_LEN; // the quoted invoking packet
  store<u32>(p, bswap<u32>(0x60000000));
  store<u16>(p + 4, bswap<u16>(<u16>(ICMPV6_HDR_LEN + quote)));
  store<u8>(p + 6, <u8>ICMPV6);
  store<u8>(p + 7, ICMPV6_HOP_LIMIT);
  memory.copy(p + IPV6_SRC, src6, 16);
  memory.copy(p + IPV6_DST, q + IPV6_SRC, 16); // back to the invoking packet's source
  const icmp = p + IPV6_HDR_LEN;
  store<u8>(icmp, ICMPV6_PACKET_TOO_BIG);
  store<u8>(icmp + 1, 0);
  store<u16>(icmp + 2, 0);
  store<u32>(icmp + 4, bswap<u32>(mtu));
  // RFC 4443 §2.3: checksum over the pseudo-header (RFC 8200 §8.1) and the ICMPv6 message.
  store<u32>(pseudo, bswap<u32>(<u32>(ICMPV6_HDR_LEN + quote)));
  store<u32>(pseudo + 4, bswap<u32>(<u32>ICMPV6));
  let sum = csumPartial(p + IPV6_SRC, 32, 0);
  sum = csumPartial(pseudo, 8, sum);
  sum = csumPartial(icmp, ICMPV6_HDR_LEN + quote, sum);
  store<u16>(icmp + 2, bswap<u16>(<u16>csumFinish(sum)));
  return total;
}
