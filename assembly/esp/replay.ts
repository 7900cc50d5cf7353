// ESP anti-replay window (RFC 4303 §3.4.3, Appendix A2) with extended sequence numbers
// (RFC 4303 §2.2.1, Appendix A2.2), kept as an RFC 6479 block bitmap.
//
// Inbound, per packet, the caller runs:
//   1. replayCheck(st, seqLow)  before the ICV: infer the 64-bit sequence number (ESN) and
//      reject replays and packets left of the window. Pure: writes nothing, because the
//      sequence number is not yet authenticated (RFC 4303 §3.4.3 "the receiver cannot yet
//      modify its local counter").
//   2. build the AAD / ICV input with the returned 64-bit number (seq_hi ‖ seq_lo with ESN);
//      verify the ICV. On failure, drop: the state stays untouched.
//   3. replayCommit(st, seq)    after the ICV verified: mark seq seen and slide the window
//      ("The receive window is updated only if the integrity verification succeeds").
//
// This is the pre/post split that strongSwan's libipsec names verify_seqno /
// set_authenticated_seqno, boringtun names will_accept / mark_did_receive, and VPP does as
// its pre- and post-decrypt anti-replay steps.
//
// The state lives at a pointer the caller owns (replayStateBytes(W) bytes, 8-byte aligned;
// the SA record normally embeds it). No allocation, no GC objects: raw load/store only.
//
// Bitmap (RFC 6479): B = ceil(W/64) + 1 blocks of 64 bits; sequence number s lives in block
// (s >> 6) mod B, bit s & 63. The one spare block means that the block T moves into is never
// one that still holds bits of the window, so sliding the window zeroes whole blocks and never
// shifts the bitmap. The window itself is exactly W wide: s is acceptable when
// T - W < s <= T (RFC 4303 A2.1: B = T - W + 1), however many more bits the blocks could hold.

// ---- Specification constants (RFC 4303) ----

/** RFC 4303 §3.4.3: "A minimum window size of 32 packets MUST be supported". */
export const REPLAY_W_MIN: i32 = 32;
/** RFC 4303 §3.4.3: "a window size of 64 is preferred and SHOULD be employed as the default". */
export const REPLAY_W_DEFAULT: i32 = 64;
/**
 * RFC 4303 A2: "the algorithm described below assumes that the window is no greater than
 * 2^31 packets in width". The ESN inference window used when replay checking is disabled.
 */
export const REPLAY_ESN_W_DISABLED: u32 = 0x80000000;

// ---- Implementation constants ----

/** Largest window we accept (bits). Power of two; W = 65536 takes 8224 bytes of state. */
export const REPLAY_W_MAX: i32 = 65536;

// State layout (byte offsets from st). All little-endian, as wasm stores them.
/** u64: T, the highest authenticated sequence number (with ESN: Th ‖ Tl, all 64 bits). */
export const REPLAY_T: i32 = 0;
/** u32: W, window size in bits (power of two, 32…65536), or 0 = replay checking disabled. */
export const REPLAY_W: i32 = 8;
/** u32: flags (REPLAY_FLAG_ESN). */
export const REPLAY_FLAGS: i32 = 12;
/** u64[ceil(W/64) + 1]: the RFC 6479 bitmap. Absent when W = 0. */
export const REPLAY_BITMAP: i32 = 16;
/** Flag bit: extended (64-bit) sequence numbers negotiated (RFC 4303 §2.2.1). */
export const REPLAY_FLAG_ESN: u32 = 1;

/**
 * Largest value of the high-order 32 bits we produce: replayCheck returns the sequence number
 * as a non-negative i64, so 64-bit sequence numbers stop at 2^63 - 1 (292 years at 10^9
 * packets per second). A packet that would infer past it is refused with REPLAY_ERR_CYCLED.
 */
export const REPLAY_SEQ_HI_MAX: u32 = 0x7fffffff;

// ---- Result codes of replayCheck (negative, so a result is either a sequence number or an error) ----

/** The bit for this sequence number is already set: a duplicate (RFC 4303 §3.4.3). */
export const REPLAY_ERR_REPLAYED: i64 = -1;
/** Left of the window: seq <= T - W (RFC 4303 §3.4.3 "lower than the left edge"). */
export const REPLAY_ERR_TOO_OLD: i64 = -2;
/**
 * Sequence number 0 (the full 64-bit value with ESN) while replay checking is on: senders
 * start at 1 and never cycle (RFC 4303 §2.2, §3.3.3), so 0 never arrives legitimately.
 */
export const REPLAY_ERR_ZERO: i64 = -3;
/** The inferred 64-bit number would pass REPLAY_SEQ_HI_MAX ‖ 0xffffffff (counter cycled). */
export const REPLAY_ERR_CYCLED: i64 = -4;

/** Number of 64-bit blocks in the bitmap for window w (w > 0): one more than the window needs. */
// @ts-ignore: decorator
@inline function blockCount(w: u32): u32 {
  return ((w + 63) >>> 6) + 1;
}

/** Address of the 64-bit block holding sequence number seq. */
// @ts-ignore: decorator
@inline function blockAddr(st: usize, seq: u64, blocks: u32): usize {
  return st + REPLAY_BITMAP + (<usize>(<u32>((seq >>> 6) % <u64>blocks)) << 3);
}

function isValidWindow(windowBits: i32): bool {
  if (windowBits == 0) return true;
  if (windowBits < REPLAY_W_MIN || windowBits > REPLAY_W_MAX) return false;
  return (windowBits & (windowBits - 1)) == 0;
}

/**
 * Bytes of state for a window of windowBits (a multiple of 16), or -1 if windowBits is not 0
 * or a power of two from 32 to 65536.
 */
export function replayStateBytes(windowBits: i32): i32 {
  if (!isValidWindow(windowBits)) return -1;
  let bytes = REPLAY_BITMAP;
  if (windowBits != 0) bytes += <i32>blockCount(<u32>windowBits) << 3;
  return (bytes + 15) & ~15;
}

/**
 * Zero the state at st for a window of windowBits (0 disables replay checking; the caller sets
 * that only when configured explicitly) and ESN on (esn != 0) or off. T starts at 0 (RFC 4303
 * §3.4.3: "the receive packet counter for the SA MUST be initialized to zero").
 * Returns 1, or 0 for an invalid windowBits, in which case nothing is written.
 */
export function replayInit(st: usize, windowBits: i32, esn: i32): i32 {
  const bytes = replayStateBytes(windowBits);
  if (bytes < 0) return 0;
  memory.fill(st, 0, <usize>bytes);
  store<u32>(st, <u32>windowBits, REPLAY_W);
  store<u32>(st, esn != 0 ? REPLAY_FLAG_ESN : 0, REPLAY_FLAGS);
  return 1;
}

/**
 * RFC 4303 Appendix A2.2: the high-order 32 bits (Seqh) for a packet carrying seqLow, given
 * T = Th ‖ Tl and window w. Returns Th - 1, Th or Th + 1 as an i64, so Th - 1 may be -1 and
 * Th + 1 may be 2^32: the caller decides what those mean. Arithmetic on Bl is mod 2^32 (A2.3).
 */
// @ts-ignore: decorator
@inline function esnSeqHigh(t: u64, w: u32, seqLow: u32): i64 {
  const tl = <u32>t;
  const th = <i64>(t >>> 32);
  const bl = tl - w + 1; // A2.2: Bl = Tl - W + 1 (mod 2^32)
  if (tl >= w - 1) {
    // Case A (RFC 4303 A2.2, Figure 1): the window lies within one subspace, Th.
    if (seqLow >= bl) return th; // in the window, or ahead of T in the same subspace
    return th + 1; // ahead of T, wrapped into the next subspace
  } else {
    // Case B (RFC 4303 A2.2, Figure 2): the window spans subspaces Th - 1 and Th.
    if (seqLow >= bl) return th - 1; // the window's part in the previous subspace
    return th; // the window's part in subspace Th, or ahead of T
  }
}

/**
 * Pre-ICV sequence number check (strongSwan verify_seqno, boringtun will_accept). PURE: reads
 * the state and changes nothing; run it before decryption and ICV verification.
 *
 * Returns the full sequence number to put into the AAD / ICV input and later hand to
 * replayCommit (without ESN: seqLow; with ESN: Seqh ‖ seqLow per RFC 4303 A2.2), or one of
 * REPLAY_ERR_REPLAYED, REPLAY_ERR_TOO_OLD, REPLAY_ERR_ZERO, REPLAY_ERR_CYCLED.
 *
 * W = 0 (disabled): "no inbound checks are performed on the Sequence Number" (RFC 4303
 * §3.4.3), so every seqLow passes, 0 and replays included. With ESN the high-order bits are
 * still inferred from T (§3.3.3 note: ESN makes the receiver track the window to find them),
 * using A2.2 with W = REPLAY_ESN_W_DISABLED (2^31, the widest the A2 algorithm allows: the
 * inferred number is the one nearest T, from T - 2^31 + 1 to T + 2^31); where Case B would
 * give Seqh = -1 (before the SA's first packet), subspace 0, the only one that exists, is used.
 */
export function replayCheck(st: usize, seqLow: u32): i64 {
  const t = load<u64>(st, REPLAY_T);
  const w = load<u32>(st, REPLAY_W);
  let seq: u64 = <u64>seqLow;
  if (load<u32>(st, REPLAY_FLAGS) & REPLAY_FLAG_ESN) {
    let hi = esnSeqHigh(t, w != 0 ? w : REPLAY_ESN_W_DISABLED, seqLow);
    if (hi < 0) {
      // Case B with Th = 0 chose subspace -1: sequence numbers below 1 that no sender uses
      // (RFC 4303 §2.2: counters start at 0, the first packet carries 1).
      if (w != 0) return REPLAY_ERR_TOO_OLD;
      hi = 0;
    }
    if (hi > <i64>REPLAY_SEQ_HI_MAX) return REPLAY_ERR_CYCLED;
    seq = (<u64>hi << 32) | seq;
  }
  if (w == 0) return <i64>seq; // RFC 4303 §3.4.3: anti-replay disabled, no checks
  // RFC 4303 §3.3.3: the first packet is 1 and the (64-bit, with ESN) counter never cycles.
  if (seq == 0) return REPLAY_ERR_ZERO;
  if (seq > t) return <i64>seq; // right of the window: new, proceed to the ICV
  if (t - seq >= <u64>w) return REPLAY_ERR_TOO_OLD; // seq < B = T - W + 1
  const bit = <u64>1 << (seq & 63);
  if (load<u64>(blockAddr(st, seq, blockCount(w))) & bit) return REPLAY_ERR_REPLAYED;
  return <i64>seq;
}

/**
 * Post-ICV commit (strongSwan set_authenticated_seqno, boringtun mark_did_receive): call only
 * after the ICV verified, with the value replayCheck returned. Per RFC 4303 A2.1 / RFC 6479:
 * when seq > T, zero the blocks that slide into the window (all of them when the jump is
 * longer than the bitmap) and set T = seq; then set seq's bit.
 *
 * If the window has moved past seq since replayCheck (another packet committed in between),
 * nothing is written: its bit would land in a block that now belongs to newer numbers.
 * Negative values (error codes) are ignored. With W = 0 only T is tracked (for ESN inference).
 */
export function replayCommit(st: usize, seq: i64): void {
  if (seq < 0) return;
  const s = <u64>seq;
  const t = load<u64>(st, REPLAY_T);
  const w = load<u32>(st, REPLAY_W);
  if (w == 0) {
    if (s > t) store<u64>(st, s, REPLAY_T);
    return;
  }
  const blocks = blockCount(w);
  if (s > t) {
    // RFC 6479: clear every block from the one after T's up to seq's, at most all of them.
    let n = (s >>> 6) - (t >>> 6);
    if (n > <u64>blocks) n = <u64>blocks;
    let i = <u32>((t >>> 6) % <u64>blocks);
    const base = st + REPLAY_BITMAP;
    for (let k: u32 = 0; k < <u32>n; k++) {
      i = i + 1 == blocks ? 0 : i + 1;
      store<u64>(base + (<usize>i << 3), 0);
    }
    store<u64>(st, s, REPLAY_T); // A2.1: "T is set to the new sequence number"
  } else if (t - s >= <u64>w) {
    return; // left of the window by now
  }
  const a = blockAddr(st, s, blocks);
  store<u64>(a, load<u64>(a) | (<u64>1 << (s & 63)));
}
