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
}

export const DROP_REASONS: i32 = 16;

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
