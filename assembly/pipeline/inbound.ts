// Inbound pipeline (RFC 4891 §2, §5.1, Appendix A; RFC 4213 §3.6): a received IPv4 packet
// is checked against every threat the two RFCs name before its IPv6 packet is delivered.
// Per packet, with the IPv4 packet at E_BUF + E_OFF:
//
//   1. outer IPv4 header valid (ipv4Check); bytes past its total length trimmed
//   2. a fragment goes to reassembly (K_FRAGMENT) and comes back whole
//   3. demultiplex by protocol: ESP (50); UDP 500 → IKE (the SPD's BYPASS for IKE); UDP 4500 →
//      NAT-keepalive, IKE after the non-ESP marker, or ESP (RFC 3948); 41 → clear-text 6in4;
//      anything else is not tunnel traffic (K_OTHER, for the host's stack)
//   4. ESP: SPI → SA; for a transport-mode SA, threat 1: the outer source must be the tunnel's
//      remote endpoint (checked before decryption, so a spoofed packet changes nothing);
//      then ESP (replay, ICV, padding, window); next header must be 41
//   5. clear-text 41: the tunnel by its endpoints; check 4: dropped when the SPD says PROTECT;
//      otherwise threat 1 as above (the endpoint pair found the tunnel, so it holds)
//   6. inner IPv6 header valid; threat 2: the inner source is a valid unicast address (not ::,
//      ::1, multicast, IPv4-mapped or IPv4-compatible); check 3: it lies in the tunnel's
//      allowed prefixes (ingress filtering); check 5 (tunnel mode): inner addresses inside the
//      SA's traffic selectors
//   7. deliver (K_DELIVER, the IPv6 packet at E_OUT_OFF, E_RESULT bytes)

import { Drop, countDrop } from "../esp/drop";
import { unprotectOne, espClearScratch } from "../esp/esp";
import { saPtr, saLookup, SA_DROPS, SA_TUNNEL, SA_SEL } from "../esp/sa";
import { selectorsAllow } from "../esp/selectors";
import { E_SA, E_BUF, E_OFF, E_LEN, E_RESULT, E_OUT_OFF, E_KIND, E_TUNNEL, E_NH, ESP_DESC_BYTES } from "../esp/descriptor";
import { ipv4Check, IPV4_SRC, IPV4_DST, IPV4_PROTOCOL, IPV4_FLAGS_FRAG, IPV4_TOTAL_LEN, IPPROTO_ESP, IPPROTO_UDP, IPPROTO_IPV6 } from "../wire/ipv4";
import { ipv6Check, IPV6_HDR_LEN, IPV6_PAYLOAD_LEN, IPV6_SRC } from "../wire/ipv6";
import {
  ipv6SourceCheck, SRC_ERR_UNSPECIFIED, SRC_ERR_LOOPBACK, SRC_ERR_MULTICAST, SRC_ERR_V4_MAPPED,
} from "../ingress/checks";
import { lpmLookup } from "../ingress/prefix";
import { tunnelPtr, tunnelFind, T_FLAGS, T_LOCAL, T_REMOTE, T_ALLOW, T_PKTS_IN, T_OCTETS_IN, TF_PROTECT, TF_DISCARD } from "../tunnel/tunnel";
import { K_DELIVER, K_IKE, K_KEEPALIVE, K_FRAGMENT, K_OTHER } from "./kinds";

const IKE_PORT: u16 = 500;
const NAT_T_PORT: u16 = 4500;

@inline function dropped(d: usize, sa: usize, reason: Drop): void {
  store<i32>(d + E_RESULT, -(<i32>reason));
  countDrop(sa != 0 ? sa + SA_DROPS : 0, <i32>reason);
}

@inline function handUp(d: usize, kind: i32, off: i32, len: i32): void {
  store<i32>(d + E_KIND, kind);
  store<i32>(d + E_OUT_OFF, off);
  store<i32>(d + E_RESULT, len);
}

/** Steps 6–7 for the IPv6 packet at buf + off (len bytes) that arrived on tunnel t (via SA sa, or 0). */
function innerChecks(d: usize, t: usize, sa: usize, buf: usize, off: i32, len: i32): void {
  const p = buf + <usize>off;
  if (ipv6Check(p, len) < 0) {
    dropped(d, sa, Drop.BadIpv6);
    return;
  }
  len = IPV6_HDR_LEN + <i32>bswap<u16>(load<u16>(p + IPV6_PAYLOAD_LEN));
  // Threat 2: the inner source must be a valid unicast address, one reason per class.
  const c = ipv6SourceCheck(p + IPV6_SRC);
  if (c != 0) {
    dropped(
      d, sa,
      c == SRC_ERR_UNSPECIFIED ? Drop.InnerUnspecified
        : c == SRC_ERR_LOOPBACK ? Drop.InnerLoopback
        : c == SRC_ERR_MULTICAST ? Drop.InnerMulticast
        : c == SRC_ERR_V4_MAPPED ? Drop.InnerV4Mapped
        : Drop.InnerV4Compat,
    );
    return;
  }
  // Check 3: ingress filtering on the tunnel interface (RFC 4891 §5.1).
  const allow = load<i32>(t + T_ALLOW);
  if (allow >= 0 && lpmLookup(allow, p + IPV6_SRC) < 0) {
    dropped(d, sa, Drop.IngressPrefix);
    return;
  }
  // Check 5: a tunnel-mode SA's selectors.
  if (sa != 0) {
    const sel = <usize>load<u32>(sa + SA_SEL);
    if (sel != 0 && !selectorsAllow(sel, p, len, false)) {
      dropped(d, sa, Drop.Selector);
      return;
    }
  }
  store<u64>(t + T_PKTS_IN, load<u64>(t + T_PKTS_IN) + 1);
  store<u64>(t + T_OCTETS_IN, load<u64>(t + T_OCTETS_IN) + <u64>len);
  handUp(d, K_DELIVER, off, len);
}

/** Step 4 for the ESP packet at buf + espOff (espLen bytes), outer header at buf + ip. */
function espIn(d: usize, buf: usize, ip: usize, espOff: i32, espLen: i32): void {
  if (espLen >= 4) {
    const si = saLookup(bswap<u32>(load<u32>(buf + <usize>espOff)));
    const sa = si < 0 ? <usize>0 : saPtr(si);
    if (sa != 0) {
      const ti = load<i32>(sa + SA_TUNNEL);
      const t = ti < 0 ? <usize>0 : tunnelPtr(ti);
      // Threat 1 (transport mode: the SA is bound to the IPv4 endpoints, RFC 4891 §2.1).
      if (t != 0 && load<u32>(sa + SA_SEL) == 0) {
        if (bswap<u32>(load<u32>(ip + IPV4_SRC)) != load<u32>(t + T_REMOTE) || bswap<u32>(load<u32>(ip + IPV4_DST)) != load<u32>(t + T_LOCAL)) {
          store<i32>(d + E_SA, si);
          store<i32>(d + E_TUNNEL, ti);
          dropped(d, sa, Drop.SpoofedOuter);
          return;
        }
      }
    }
  }
  store<i32>(d + E_OFF, espOff);
  store<i32>(d + E_LEN, espLen);
  unprotectOne(d); // counts its own drops
  if (load<i32>(d + E_RESULT) < 0) return;
  const si = load<i32>(d + E_SA);
  const sa = saPtr(si);
  const ti = load<i32>(sa + SA_TUNNEL);
  const t = ti < 0 ? <usize>0 : tunnelPtr(ti);
  store<i32>(d + E_TUNNEL, ti);
  if (load<i32>(d + E_NH) != IPPROTO_IPV6) {
    dropped(d, sa, Drop.NotIpv6);
    return;
  }
  if (t == 0) {
    dropped(d, sa, Drop.NoTunnel);
    return;
  }
  if (load<u32>(t + T_FLAGS) & TF_DISCARD) {
    dropped(d, sa, Drop.PolicyDiscard);
    return;
  }
  innerChecks(d, t, sa, buf, load<i32>(d + E_OUT_OFF), load<i32>(d + E_RESULT));
}

function inboundOne(d: usize): void {
  store<i32>(d + E_SA, -1);
  store<i32>(d + E_TUNNEL, -1);
  store<i32>(d + E_KIND, 0);
  const buf = <usize>load<u32>(d + E_BUF);
  const off = load<i32>(d + E_OFF);
  const ip = buf + <usize>off;
  // 1. Outer header.
  if (off < 0 || ipv4Check(ip, load<i32>(d + E_LEN)) < 0) {
    dropped(d, 0, Drop.BadIpv4);
    return;
  }
  const ihl = (<i32>load<u8>(ip) & 0x0f) << 2;
  const total = <i32>bswap<u16>(load<u16>(ip + IPV4_TOTAL_LEN));
  // 2. Fragments go to reassembly.
  if ((bswap<u16>(load<u16>(ip + IPV4_FLAGS_FRAG)) & 0x3fff) != 0) {
    handUp(d, K_FRAGMENT, off, total);
    return;
  }
  const proto = <i32>load<u8>(ip + IPV4_PROTOCOL);
  const body = off + ihl;
  const bodyLen = total - ihl;
  // 3. Demultiplex.
  if (proto == IPPROTO_ESP) {
    espIn(d, buf, ip, body, bodyLen);
    return;
  }
  if (proto == IPPROTO_UDP) {
    if (bodyLen < 8) {
      dropped(d, 0, Drop.BadUdp);
      return;
    }
    const u = buf + <usize>body;
    const ulen = <i32>bswap<u16>(load<u16>(u + 4));
    if (ulen < 8 || ulen > bodyLen) {
      dropped(d, 0, Drop.BadUdp);
      return;
    }
    const dport = bswap<u16>(load<u16>(u + 2));
    const pl = body + 8;
    const plen = ulen - 8;
    if (dport == IKE_PORT) {
      handUp(d, K_IKE, pl, plen);
      return;
    }
    if (dport == NAT_T_PORT) {
      const q = buf + <usize>pl;
      if (plen == 1 && load<u8>(q) == 0xff) {
        handUp(d, K_KEEPALIVE, pl, plen); // RFC 3948 §2.3
      } else if (plen >= 4 && load<u32>(q) == 0) {
        handUp(d, K_IKE, pl + 4, plen - 4); // RFC 3948 §2.2: non-ESP marker
      } else if (plen < 8) {
        dropped(d, 0, Drop.Runt);
      } else {
        espIn(d, buf, ip, pl, plen);
      }
      return;
    }
    handUp(d, K_OTHER, off, total);
    return;
  }
  if (proto == IPPROTO_IPV6) {
    // 5. Clear-text 6in4: the endpoint pair names the tunnel (so threat 1 holds by construction).
    const ti = tunnelFind(bswap<u32>(load<u32>(ip + IPV4_DST)), bswap<u32>(load<u32>(ip + IPV4_SRC)));
    const t = ti < 0 ? <usize>0 : tunnelPtr(ti);
    if (t == 0) {
      dropped(d, 0, Drop.NoTunnel);
      return;
    }
    store<i32>(d + E_TUNNEL, ti);
    if (load<u32>(t + T_FLAGS) & TF_DISCARD) {
      dropped(d, 0, Drop.PolicyDiscard);
      return;
    }
    if (load<u32>(t + T_FLAGS) & TF_PROTECT) {
      dropped(d, 0, Drop.Cleartext); // check 4
      return;
    }
    innerChecks(d, t, 0, buf, body, bodyLen);
    return;
  }
  handUp(d, K_OTHER, off, total);
}

/** Run n IPv4 packets through the inbound pipeline. Returns how many IPv6 packets to deliver. */
export function pipeInbound(desc: usize, n: i32): i32 {
  let delivered = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * ESP_DESC_BYTES);
    inboundOne(d);
    if (load<i32>(d + E_RESULT) >= 0 && load<i32>(d + E_KIND) == K_DELIVER) delivered++;
  }
  espClearScratch();
  return delivered;
}
