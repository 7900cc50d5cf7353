// Outbound pipeline (RFC 4891 §5.1, RFC 4213 §3): an IPv6 packet goes into a configured
// tunnel and leaves as (protected) IPv4. Per packet, with the packet at E_BUF + E_OFF:
//
//   1. the inner IPv6 header is valid (ipv6Check); bytes past its payload length are trimmed
//   2. route: the longest prefix of the routes table (ingress/prefix.ts) covering the inner
//      destination names the tunnel
//   3. MTU (RFC 4213 §3.2): larger than the tunnel MTU → not sent; an ICMPv6 Packet Too Big
//      goes back to the sender instead (RFC 4443 §3.2), when RFC 4443 §2.4 (e) allows one
//   4. the tunnel's SPD decision, resolved at configuration time: PROTECT → its outbound SA
//      (none yet → dropped, the control plane must negotiate one; a tunnel-mode SA only takes
//      what its selectors cover); BYPASS → plain 6in4; DISCARD → dropped
//   5. ESP (esp/esp.ts protectOne, next header 41), UDP-encapsulated if the SA says so
//   6. outer IPv4 header: tunnel endpoints, protocol 50 / 17 / 41, TTL, DF per RFC 4213 §3.2,
//      ECN per RFC 6040 (normal mode: copied from the inner traffic class), checksum
//
// E_KIND is K_SEND (outer packet at E_OUT_OFF, E_RESULT bytes) or K_PTB; E_RESULT < 0 is a drop.

import { Drop, countDrop } from "../esp/drop";
import { protectOne, espClearScratch } from "../esp/esp";
import { saPtr, saCapacity, SA_DROPS, SA_ENCAP, SA_SEL, SA_NEXT_OUT } from "../esp/sa";
import { E_SA, E_BUF, E_OFF, E_LEN, E_CAP, E_NH, E_RESULT, E_OUT_OFF, E_KIND, E_TUNNEL, ESP_DESC_BYTES } from "../esp/descriptor";
import { ipv6Check, ipv6TrafficClass, IPV6_HDR_LEN, IPV6_PAYLOAD_LEN, IPV6_DST } from "../wire/ipv6";
import { ipv4Encap, IPV4_HDR_LEN, IPPROTO_ESP, IPPROTO_UDP, IPPROTO_IPV6 } from "../wire/ipv4";
import { lpmLookup } from "../ingress/prefix";
import {
  tunnelPtr, T_FLAGS, T_LOCAL, T_REMOTE, T_MTU, T_TTL, T_OUT_SA, T_IPID, T_ADDR6, T_PKTS_OUT, T_OCTETS_OUT,
  TF_PROTECT, TF_DF, TF_DISCARD,
} from "../tunnel/tunnel";
import { selectorsAllow } from "../esp/selectors";
import { ptbAllowed, packetTooBig } from "../tunnel/icmpv6";
import { K_SEND, K_PTB } from "./kinds";

@inline function dropped(d: usize, sa: usize, reason: Drop): void {
  store<i32>(d + E_RESULT, -(<i32>reason));
  countDrop(sa != 0 ? sa + SA_DROPS : 0, <i32>reason);
}

/** Write the outer IPv4 header in front of the len bytes at buf + start; update the row. */
@inline function encap(d: usize, t: usize, buf: usize, start: i32, len: i32, proto: i32, tc: i32): void {
  const id = load<u32>(t + T_IPID);
  store<u32>(t + T_IPID, id + 1);
  const df = (load<u32>(t + T_FLAGS) & TF_DF) != 0 ? 1 : 0;
  const outer = start - IPV4_HDR_LEN;
  ipv4Encap(buf + <usize>outer, len, load<u32>(t + T_LOCAL), load<u32>(t + T_REMOTE), proto, load<i32>(t + T_TTL), df, tc, <i32>(id & 0xffff));
  store<i32>(d + E_OUT_OFF, outer);
  store<i32>(d + E_RESULT, len + IPV4_HDR_LEN);
  store<i32>(d + E_KIND, K_SEND);
  store<u64>(t + T_PKTS_OUT, load<u64>(t + T_PKTS_OUT) + 1);
  store<u64>(t + T_OCTETS_OUT, load<u64>(t + T_OCTETS_OUT) + <u64>len);
}

function outboundOne(d: usize, routes: i32): void {
  store<i32>(d + E_TUNNEL, -1);
  store<i32>(d + E_KIND, 0);
  const buf = <usize>load<u32>(d + E_BUF);
  const off = load<i32>(d + E_OFF);
  let len = load<i32>(d + E_LEN);
  const cap = load<i32>(d + E_CAP);
  const p = buf + <usize>off;
  // 1. Inner header.
  if (off < 0 || ipv6Check(p, len) < 0) {
    dropped(d, 0, Drop.BadIpv6);
    return;
  }
  len = IPV6_HDR_LEN + <i32>bswap<u16>(load<u16>(p + IPV6_PAYLOAD_LEN));
  store<i32>(d + E_LEN, len);
  // 2. Route.
  const ti = lpmLookup(routes, p + IPV6_DST);
  const t = ti < 0 ? <usize>0 : tunnelPtr(ti);
  if (t == 0) {
    dropped(d, 0, Drop.NoRoute);
    return;
  }
  store<i32>(d + E_TUNNEL, ti);
  // 3. MTU.
  const mtu = load<u32>(t + T_MTU);
  if (<u32>len > mtu) {
    countDrop(0, <i32>Drop.TooBig);
    const n = ptbAllowed(p, len) ? packetTooBig(buf, off, len, cap, mtu, t + T_ADDR6) : 0;
    if (n == 0) {
      store<i32>(d + E_RESULT, -(<i32>Drop.TooBig));
      return;
    }
    store<i32>(d + E_OUT_OFF, off);
    store<i32>(d + E_RESULT, n);
    store<i32>(d + E_KIND, K_PTB);
    return;
  }
  const tc = ipv6TrafficClass(p);
  if (load<u32>(t + T_FLAGS) & TF_DISCARD) {
    dropped(d, 0, Drop.PolicyDiscard);
    return;
  }
  // 4. Plain RFC 4213 tunnel (the SPD says BYPASS for protocol 41).
  if ((load<u32>(t + T_FLAGS) & TF_PROTECT) == 0) {
    if (off < IPV4_HDR_LEN) {
      dropped(d, 0, Drop.NoRoom);
      return;
    }
    encap(d, t, buf, off, len, IPPROTO_IPV6, tc);
    return;
  }
  const head = load<i32>(t + T_OUT_SA);
  const first = head < 0 ? <usize>0 : saPtr(head);
  if (first == 0) {
    dropped(d, 0, Drop.NoOutboundSa);
    return;
  }
  // A tunnel-mode SA carries only what its selectors cover (RFC 4301 §5.1): the tunnel's SAs,
  // newest first, are tried in turn (several CHILD_SAs on one tunnel); a transport-mode SA
  // (no selectors) carries everything. None covering the packet: a drop on the newest.
  let si = head;
  let sa = first;
  let hops = saCapacity(); // the list is TypeScript's: a bound even if it were ever wrong
  while (true) {
    const sel = <usize>load<u32>(sa + SA_SEL);
    if (sel == 0 || selectorsAllow(sel, p, len, true)) break;
    si = load<i32>(sa + SA_NEXT_OUT);
    sa = si >= 0 && --hops > 0 ? saPtr(si) : <usize>0;
    if (sa == 0) {
      dropped(d, first, Drop.Selector);
      return;
    }
  }
  // 5. ESP (counts its own drops). Needs the IPv4 header's room in front as well.
  if (off < 16 + 8 + IPV4_HDR_LEN) {
    dropped(d, sa, Drop.NoRoom);
    return;
  }
  store<i32>(d + E_SA, si);
  store<i32>(d + E_NH, IPPROTO_IPV6);
  protectOne(d);
  const r = load<i32>(d + E_RESULT);
  if (r < 0) return;
  // 6. Outer header.
  encap(d, t, buf, load<i32>(d + E_OUT_OFF), r, load<u32>(sa + SA_ENCAP) != 0 ? IPPROTO_UDP : IPPROTO_ESP, tc);
}

/**
 * Run n IPv6 packets through the outbound pipeline, routing with the LPM table `routes`
 * (value = tunnel index). Returns how many produced a packet to send (K_SEND).
 */
export function pipeOutbound(desc: usize, n: i32, routes: i32): i32 {
  let sent = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * ESP_DESC_BYTES);
    outboundOne(d, routes);
    if (load<i32>(d + E_RESULT) >= 0 && load<i32>(d + E_KIND) == K_SEND) sent++;
  }
  espClearScratch();
  return sent;
}
