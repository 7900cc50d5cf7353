// Traffic selectors of a tunnel-mode SA (RFC 4301 §4.4.2.1, RFC 7296 §2.9), checked on every
// inbound packet after decryption (RFC 4301 §5.2 step 4; RFC 4891 Appendix A, check 5 of
// DESIGN.md): the inner source must lie in the peer's selectors, the inner destination in
// ours, and the next-layer protocol must match where a selector names one.
//
// Block layout (allocated by TypeScript with heap_alloc, owned by the SA, freed by saRemove):
//   u32 nLocal, u32 nRemote, u32 0, u32 0, then nLocal + nRemote entries of SEL_ENTRY bytes:
//   start[16] ‖ end[16] (IPv6, network order, inclusive) ‖ i32 protocol (−1 = ANY) ‖ 12 spare.

import { ipv6UpperLayer, ipv6UpperProto } from "../wire/ipv6_ext";

export const SEL_HDR: i32 = 16;
export const SEL_ENTRY: i32 = 48;

@inline function le128(a: usize, b: usize): bool {
  // a ≤ b for 16-byte big-endian numbers.
  const ah = bswap<u64>(load<u64>(a));
  const bh = bswap<u64>(load<u64>(b));
  if (ah != bh) return ah < bh;
  return bswap<u64>(load<u64>(a, 8)) <= bswap<u64>(load<u64>(b, 8));
}

function anyMatch(e: usize, n: i32, addr: usize, proto: i32): bool {
  for (let i = 0; i < n; i++) {
    const s = e + <usize>(i * SEL_ENTRY);
    const p = load<i32>(s, 32);
    if (p >= 0 && p != proto) continue;
    if (le128(s, addr) && le128(addr, s + 16)) return true;
  }
  return false;
}

/** Bytes of a selector block for nLocal + nRemote entries. */
export function selectorBytes(nLocal: i32, nRemote: i32): i32 {
  return SEL_HDR + (nLocal + nRemote) * SEL_ENTRY;
}

/**
 * Does the inner IPv6 packet at pkt (len bytes, already ipv6Check'ed) fit the selectors at
 * sel? Inbound, the source is matched against the remote side and the destination against the
 * local side; outbound, the other way round.
 */
export function selectorsAllow(sel: usize, pkt: usize, len: i32, outbound: bool): bool {
  const nLocal = load<i32>(sel);
  const nRemote = load<i32>(sel, 4);
  const entries = sel + <usize>SEL_HDR;
  // The next-layer protocol only matters when some entry names one.
  let proto: i32 = -1;
  let needProto = false;
  for (let i = 0; i < nLocal + nRemote; i++) if (load<i32>(entries + <usize>(i * SEL_ENTRY), 32) >= 0) needProto = true;
  if (needProto) {
    if (ipv6UpperLayer(pkt, len) < 0) return false;
    proto = ipv6UpperProto();
  }
  const local = entries;
  const remote = entries + <usize>(nLocal * SEL_ENTRY);
  const src = pkt + 8;
  const dst = pkt + 24;
  return outbound
    ? anyMatch(local, nLocal, src, proto) && anyMatch(remote, nRemote, dst, proto)
    : anyMatch(remote, nRemote, src, proto) && anyMatch(local, nLocal, dst, proto);
}
