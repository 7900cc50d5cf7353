// The RFC 4213 configured tunnels, as the hot path needs them: a fixed-size record per
// tunnel (endpoints, MTU, the interface's IPv6 address, its ingress filter, its outbound SA)
// and a hash from the endpoint pair to the tunnel, so that an arriving IPv4 packet finds its
// tunnel without a scan. Configuration (names, routes, IKE) stays in TypeScript.

// Record layout (implementation constants).
export const T_FLAGS: i32 = 0; // u32 TF_*
export const T_LOCAL: i32 = 4; // u32 local IPv4 endpoint (host order)
export const T_REMOTE: i32 = 8; // u32 remote IPv4 endpoint (host order)
export const T_MTU: i32 = 12; // u32 tunnel MTU for inner packets (RFC 4213 §3.2; ≥ 1280)
export const T_TTL: i32 = 16; // u32 outer TTL (RFC 4213 §3.3)
export const T_ALLOW: i32 = 20; // i32 LPM handle of allowed inner sources, −1 = none configured
export const T_OUT_SA: i32 = 24; // i32 outbound SA index, −1 = none yet
export const T_IPID: i32 = 28; // u32 next IPv4 identification
export const T_ADDR6: i32 = 32; // 16 bytes: the tunnel interface's IPv6 address (ICMPv6 source)
export const T_PKTS_IN: i32 = 48; // u64
export const T_PKTS_OUT: i32 = 56; // u64
export const T_OCTETS_IN: i32 = 64; // u64
export const T_OCTETS_OUT: i32 = 72; // u64
export const TUNNEL_RECORD_BYTES: i32 = 80;

export const TF_USED: u32 = 1;
/** The SPD says PROTECT for protocol 41 between the endpoints: clear-text 41 is dropped. */
export const TF_PROTECT: u32 = 2;
/** Set DF on the outer header (RFC 4213 §3.2.2 dynamic MTU); clear for the static MTU of §3.2.1. */
export const TF_DF: u32 = 4;
/** The SPD says DISCARD for protocol 41 between the endpoints: nothing passes either way. */
export const TF_DISCARD: u32 = 8;
const TF_SETTABLE: u32 = TF_PROTECT | TF_DF | TF_DISCARD;

export const TUN_OK: i32 = 0;
export const TUN_ERR_INDEX: i32 = -1;
export const TUN_ERR_IN_USE: i32 = -2;
export const TUN_ERR_MTU: i32 = -3;
export const TUN_ERR_DUP: i32 = -4;
export const TUN_ERR_TTL: i32 = -5;

/** RFC 4213 §3.2 / RFC 8200 §5: the IPv6 minimum link MTU. */
export const IPV6_MIN_MTU: i32 = 1280;

let tunBase: usize = 0;
let tunCap: i32 = 0;
let hashBase: usize = 0; // pairs (local, remote) → index + 1, 12 bytes per slot
let hashMask: u32 = 0;

export function tunnelTableInit(capacity: i32): i32 {
  if (tunBase != 0 || capacity <= 0 || capacity > (1 << 20)) return 0;
  let hcap: u32 = 16;
  while (hcap < <u32>capacity * 2) hcap <<= 1;
  tunBase = heap.alloc(<usize>capacity * <usize>TUNNEL_RECORD_BYTES);
  hashBase = heap.alloc(<usize>hcap * 12);
  memory.fill(tunBase, 0, <usize>capacity * <usize>TUNNEL_RECORD_BYTES);
  memory.fill(hashBase, 0, <usize>hcap * 12);
  tunCap = capacity;
  hashMask = hcap - 1;
  return 1;
}

@inline export function tunAt(i: i32): usize {
  return tunBase + <usize>i * <usize>TUNNEL_RECORD_BYTES;
}

/** Address of tunnel i if configured, else 0. */
export function tunnelPtr(i: i32): usize {
  if (<u32>i >= <u32>tunCap) return 0;
  const t = tunAt(i);
  return load<u32>(t + T_FLAGS) & TF_USED ? t : 0;
}

@inline function slotOf(local: u32, remote: u32): u32 {
  return ((remote * 0x9e3779b1) ^ (local * 0x85ebca6b)) & hashMask;
}

/** The tunnel whose endpoints are (local, remote), or −1. */
export function tunnelFind(local: u32, remote: u32): i32 {
  if (hashBase == 0) return -1;
  let s = slotOf(local, remote);
  while (true) {
    const e = hashBase + <usize>s * 12;
    const idx = load<u32>(e + 8);
    if (idx == 0) return -1;
    if (load<u32>(e) == local && load<u32>(e + 4) == remote) return <i32>idx - 1;
    s = (s + 1) & hashMask;
  }
  return -1;
}

function hashInsert(local: u32, remote: u32, index: i32): void {
  let s = slotOf(local, remote);
  while (load<u32>(hashBase + <usize>s * 12 + 8) != 0) s = (s + 1) & hashMask;
  const e = hashBase + <usize>s * 12;
  store<u32>(e, local);
  store<u32>(e + 4, remote);
  store<u32>(e + 8, <u32>index + 1);
}

function hashRemove(local: u32, remote: u32): void {
  let s = slotOf(local, remote);
  while (true) {
    const e = hashBase + <usize>s * 12;
    if (load<u32>(e + 8) == 0) return;
    if (load<u32>(e) == local && load<u32>(e + 4) == remote) break;
    s = (s + 1) & hashMask;
  }
  // Backward-shift deletion, as in esp/sa.ts.
  let hole = s;
  let j = (s + 1) & hashMask;
  while (true) {
    const e = hashBase + <usize>j * 12;
    if (load<u32>(e + 8) == 0) break;
    const home = slotOf(load<u32>(e), load<u32>(e + 4));
    const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
    if (!inRange) {
      memory.copy(hashBase + <usize>hole * 12, e, 12);
      hole = j;
    }
    j = (j + 1) & hashMask;
  }
  memory.fill(hashBase + <usize>hole * 12, 0, 12);
}

/**
 * Configure tunnel `index`. addr6 points at the interface's 16-byte IPv6 address. `allow` is
 * an LPM handle (ingress/prefix.ts) or −1. Returns TUN_OK or a TUN_ERR_* code, changing
 * nothing on error.
 */
export function tunnelAdd(
  index: i32, local: u32, remote: u32, mtu: i32, ttl: i32, flags: u32, allow: i32, addr6: usize,
): i32 {
  if (<u32>index >= <u32>tunCap) return TUN_ERR_INDEX;
  const t = tunAt(index);
  if (load<u32>(t + T_FLAGS) & TF_USED) return TUN_ERR_IN_USE;
  if (mtu < IPV6_MIN_MTU || mtu > 65535 - 20) return TUN_ERR_MTU;
  if (ttl < 1 || ttl > 255) return TUN_ERR_TTL;
  if (tunnelFind(local, remote) >= 0) return TUN_ERR_DUP;
  memory.fill(t, 0, <usize>TUNNEL_RECORD_BYTES);
  store<u32>(t + T_LOCAL, local);
  store<u32>(t + T_REMOTE, remote);
  store<u32>(t + T_MTU, mtu);
  store<u32>(t + T_TTL, ttl);
  store<i32>(t + T_ALLOW, allow);
  store<i32>(t + T_OUT_SA, -1);
  memory.copy(t + T_ADDR6, addr6, 16);
  store<u32>(t + T_FLAGS, TF_USED | (flags & TF_SETTABLE));
  hashInsert(local, remote, index);
  return TUN_OK;
}

export function tunnelRemove(index: i32): i32 {
  const t = tunnelPtr(index);
  if (t == 0) return TUN_ERR_INDEX;
  hashRemove(load<u32>(t + T_LOCAL), load<u32>(t + T_REMOTE));
  memory.fill(t, 0, <usize>TUNNEL_RECORD_BYTES);
  return TUN_OK;
}

/** Point the tunnel at its current outbound SA (−1: none). Make-before-break: the new SA is installed first. */
export function tunnelSetOutboundSa(index: i32, sa: i32): i32 {
  const t = tunnelPtr(index);
  if (t == 0) return TUN_ERR_INDEX;
  store<i32>(t + T_OUT_SA, sa);
  return TUN_OK;
}

/** Change the flags (TF_PROTECT, TF_DF, TF_DISCARD) of a tunnel. */
export function tunnelSetFlags(index: i32, flags: u32): i32 {
  const t = tunnelPtr(index);
  if (t == 0) return TUN_ERR_INDEX;
  store<u32>(t + T_FLAGS, TF_USED | (flags & TF_SETTABLE));
  return TUN_OK;
}
