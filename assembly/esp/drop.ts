// Why a packet was dropped (STYLE habit 7, VPP's foreach_ipsec_sa_err): one code per
// reason, per-SA counters in the SA record and global counters here, read from TypeScript.
// A verdict is ≥ 0 (success, a length) or -Drop.X.

export enum Drop {
  None = 0,
  /** Shorter than the ESP header (or than what the encapsulation needs). */
  Runt = 1,
  /** Lengths inconsistent: no room for IV, trailer and ICV. */
  BadLen = 2,
  /** No inbound SA has this SPI. */
  NoSa = 3,
  /** Sequence number already received (RFC 4303 §3.4.3). */
  Replayed = 4,
  /** Sequence number left of the replay window. */
  TooOld = 5,
  /** ICV did not verify (RFC 4303 §3.4.4). */
  IntegFail = 6,
  /** Padding bytes not 1, 2, 3, … or pad length beyond the payload (RFC 4303 §2.4). */
  BadPad = 7,
  /** Next header 59: a dummy packet (RFC 4303 §2.6), dropped and counted. */
  Dummy = 8,
  /** Outbound counter would cycle (RFC 4303 §3.3.3): SA spent, rekey. */
  SeqExhausted = 9,
  /** Output buffer too small for the ESP packet. */
  NoRoom = 10,
  /** SA slot not installed, or used in the wrong direction. */
  BadSa = 11,
  /** Sequence number 0, never sent by a conforming peer on a fresh counter. */
  BadSeq = 12,
  /** UDP encapsulation: a UDP header or length that does not add up (RFC 3948). */
  BadUdp = 13,
  // ── The RFC 4213 / RFC 4891 pipelines ──
  /** Outer IPv4 header invalid (version, lengths, checksum). */
  BadIpv4 = 14,
  /** Inner IPv6 header invalid, or shorter than its payload length says. */
  BadIpv6 = 15,
  /** Threat 1 (RFC 4891 §2, RFC 4213 §3.6): outer IPv4 source is not the tunnel's remote endpoint. */
  SpoofedOuter = 16,
  /** Threat 2: inner source is :: (unspecified). */
  InnerUnspecified = 17,
  /** Threat 2: inner source is ::1 (loopback). */
  InnerLoopback = 18,
  /** Threat 2: inner source is multicast (ff00::/8). */
  InnerMulticast = 19,
  /** Threat 2: inner source is IPv4-mapped (::ffff:0:0/96). */
  InnerV4Mapped = 20,
  /** Threat 2: inner source is IPv4-compatible (::/96). */
  InnerV4Compat = 21,
  /** Check 3 (RFC 4891 §5.1 ingress filtering): inner source not in the tunnel's allowed prefixes. */
  IngressPrefix = 22,
  /** Check 4: clear-text protocol 41 from a peer whose SPD entry says PROTECT. */
  Cleartext = 23,
  /** Check 5 (RFC 4301 §5.2): inner addresses outside the tunnel-mode SA's traffic selectors. */
  Selector = 24,
  /** ESP next header is not 41 (IPv6) where a tunnel expects IPv6. */
  NotIpv6 = 25,
  /** No configured tunnel for these outer addresses. */
  NoTunnel = 26,
  /** Outbound: no route into a tunnel for the inner destination. */
  NoRoute = 27,
  /** Outbound: the tunnel has no outbound SA yet (IKE must negotiate one). */
  NoOutboundSa = 28,
  /** Outbound: larger than the tunnel MTU (an ICMPv6 Packet Too Big is produced when allowed). */
  TooBig = 29,
  /** Outer protocol neither ESP, UDP-encapsulated ESP nor 41. */
  NotTunnel = 30,
  /** The SPD entry for the tunnel says DISCARD. */
  PolicyDiscard = 31,
}

export const DROP_REASONS: i32 = 32;

// Global counters, u64 per reason.
export const dropCounters: usize = memory.data(DROP_REASONS * 8, 16);

@inline export function countDrop(perSa: usize, reason: i32): void {
  const g = dropCounters + (<usize>reason << 3);
  store<u64>(g, load<u64>(g) + 1);
  if (perSa != 0) {
    const s = perSa + (<usize>reason << 3);
    store<u64>(s, load<u64>(s) + 1);
  }
}
