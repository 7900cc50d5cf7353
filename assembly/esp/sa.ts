// The SA table (RFC 4301 §4.4.2 SAD, the hot part): fixed-size records in one array,
// and an open-addressing hash from inbound SPI to record index, all in wasm memory.
// Control data (lifetimes, selectors, peers) stays in TypeScript (STYLE habit 8).

import { GCM_CTX_BYTES, gcmInit, gcmWipe } from "../gcm";
import { CCP_CTX_BYTES, ccpInit, ccpWipe } from "../chacha20poly1305";
import { DROP_REASONS } from "./drop";
import { replayInit, replayStateBytes } from "./replay";

// ESP algorithms (implementation constants; 0 is AES-GCM so that a zeroed record is one).
export const ALG_AES_GCM: u32 = 0; // RFC 4106
export const ALG_CHACHA20_POLY1305: u32 = 1; // RFC 7634
export const ALG_AES_GMAC: u32 = 2; // RFC 4543 ENCR_NULL_AUTH_AES_GMAC (integrity only)

// Record layout (implementation constants).
/**
 * Key material, a union by algorithm: the gcm.ts context (AES round keys + GHASH key
 * material) for AES-GCM and AES-GMAC, or the chacha20poly1305.ts context (the 32-byte key)
 * for ChaCha20-Poly1305. Sized for the larger, the GCM context.
 */
export const SA_KEY: i32 = 0;
export const SA_KEY_BYTES: i32 = GCM_CTX_BYTES > CCP_CTX_BYTES ? GCM_CTX_BYTES : CCP_CTX_BYTES;
export const SA_SPI: i32 = SA_KEY_BYTES; // u32, host value
export const SA_SALT: i32 = SA_SPI + 4; // 4 raw bytes (RFC 4106 §4, RFC 4543 §3.2, RFC 7634 §2)
export const SA_FLAGS: i32 = SA_SPI + 8;
export const SA_ICV: i32 = SA_SPI + 12; // u16: 8, 12 or 16 (AES-GCM); 16 (ChaCha20-Poly1305, AES-GMAC)
export const SA_ALG: i32 = SA_SPI + 14; // u16: ALG_*
export const SA_SEQ: i32 = SA_SPI + 16; // u64: outbound, last sequence number sent
export const SA_REPLAY: i32 = SA_SPI + 24; // u32 pointer to the replay state (inbound)
export const SA_TFC: i32 = SA_SPI + 28; // u32: extra padding bytes per packet (multiple of 4)
export const SA_REPLAY_LEN: i32 = SA_SPI + 32; // u32 bytes of the replay state
export const SA_ENCAP: i32 = SA_SPI + 36; // u32: RFC 3948 UDP ports (source << 16 | destination), 0 = raw ESP
export const SA_PKTS: i32 = SA_SPI + 40; // u64 packets protected / accepted
export const SA_OCTETS: i32 = SA_SPI + 48; // u64 payload bytes protected / accepted
export const SA_DROPS: i32 = SA_SPI + 56; // u64 × DROP_REASONS
export const SA_TUNNEL: i32 = SA_DROPS + DROP_REASONS * 8; // i32: tunnel index the SA protects, −1 none
export const SA_SEL: i32 = SA_TUNNEL + 4; // u32: pointer to tunnel-mode traffic selectors, 0 none
// i32: outbound, the next SA of its tunnel's list (newest first; −1 = last), which the outbound
// pipeline walks for the first SA whose selectors cover a packet (RFC 4301 §5.1). Kept by TypeScript.
export const SA_NEXT_OUT: i32 = SA_SEL + 4;
export const SA_RECORD_BYTES: i32 = (SA_NEXT_OUT + 4 + 15) & ~15;

export const SAF_USED: u32 = 1;
export const SAF_INBOUND: u32 = 2;
export const SAF_ESN: u32 = 4;
export const SAF_SPENT: u32 = 8;

// Install results.
export const SA_OK: i32 = 0;
export const SA_ERR_INDEX: i32 = -1;
export const SA_ERR_IN_USE: i32 = -2;
export const SA_ERR_KEY: i32 = -3;
export const SA_ERR_ICV: i32 = -4;
export const SA_ERR_SPI_DUP: i32 = -5;
export const SA_ERR_WINDOW: i32 = -6;
export const SA_ERR_SPI_ZERO: i32 = -7;
export const SA_ERR_MEMORY: i32 = -8;
export const SA_ERR_ALG: i32 = -9;

let saBase: usize = 0;
let saCap: i32 = 0;
let hashBase: usize = 0; // pairs of u32: spi, index + 1 (0 = empty slot)
let hashMask: u32 = 0;

/** Allocate the table for `capacity` SAs. Returns 1, or 0 if memory cannot be had. */
export function saTableInit(capacity: i32): i32 {
  if (saBase != 0 || capacity <= 0 || capacity > (1 << 22)) return 0;
  let hcap: u32 = 16;
  while (hcap < <u32>capacity * 2) hcap <<= 1;
  const recs = heap.alloc(<usize>capacity * <usize>SA_RECORD_BYTES);
  const hash = heap.alloc(<usize>hcap * 8);
  memory.fill(recs, 0, <usize>capacity * <usize>SA_RECORD_BYTES);
  memory.fill(hash, 0, <usize>hcap * 8);
  saBase = recs;
  saCap = capacity;
  hashBase = hash;
  hashMask = hcap - 1;
  return 1;
}

export function saCapacity(): i32 {
  return saCap;
}

export function saRecordBytes(): i32 {
  return SA_RECORD_BYTES;
}

/** Address of record i (no check). */
@inline export function saAt(i: i32): usize {
  return saBase + <usize>i * <usize>SA_RECORD_BYTES;
}

/** Address of record i if it is installed, else 0. */
export function saPtr(i: i32): usize {
  if (<u32>i >= <u32>saCap) return 0;
  const sa = saAt(i);
  return load<u32>(sa + SA_FLAGS) & SAF_USED ? sa : 0;
}

// Fibonacci hashing of the SPI. SPIs are chosen by us (the receiver), so an attacker
// cannot force collisions beyond what linear probing absorbs.
@inline function slotOf(spi: u32): u32 {
  return (spi * 0x9e3779b1) & hashMask;
}

/** Inbound lookup by SPI inside wasm. Returns the record index, or -1. */
export function saLookup(spi: u32): i32 {
  if (hashBase == 0) return -1;
  let s = slotOf(spi);
  while (true) {
    const e = hashBase + (<usize>s << 3);
    const idx = load<u32>(e + 4);
    if (idx == 0) return -1;
    if (load<u32>(e) == spi) return <i32>idx - 1;
    s = (s + 1) & hashMask;
  }
  return -1;
}

function hashInsert(spi: u32, index: i32): void {
  let s = slotOf(spi);
  while (load<u32>(hashBase + (<usize>s << 3) + 4) != 0) s = (s + 1) & hashMask;
  store<u32>(hashBase + (<usize>s << 3), spi);
  store<u32>(hashBase + (<usize>s << 3) + 4, <u32>index + 1);
}

/** Remove with backward-shift deletion (no tombstones, lookups stay short). */
function hashRemove(spi: u32): void {
  let s = slotOf(spi);
  while (true) {
    const e = hashBase + (<usize>s << 3);
    if (load<u32>(e + 4) == 0) return;
    if (load<u32>(e) == spi) break;
    s = (s + 1) & hashMask;
  }
  let hole = s;
  let j = (s + 1) & hashMask;
  while (true) {
    const e = hashBase + (<usize>j << 3);
    if (load<u32>(e + 4) == 0) break;
    const home = slotOf(load<u32>(e));
    // Move entry j into the hole if its home slot is not within (hole, j] cyclically.
    const inRange = hole <= j ? home > hole && home <= j : home > hole || home <= j;
    if (!inRange) {
      store<u64>(hashBase + (<usize>hole << 3), load<u64>(e));
      hole = j;
    }
    j = (j + 1) & hashMask;
  }
  store<u64>(hashBase + (<usize>hole << 3), 0);
}

/**
 * Install an AES-GCM SA (RFC 4106): saInstallAlg with ALG_AES_GCM. keyMat = AES key ‖
 * 4-byte salt (RFC 4106 §8.1), keyLen the AES key length.
 */
export function saInstall(
  index: i32, spi: u32, keyMat: usize, keyLen: i32, icvLen: i32, inbound: i32, esn: i32, windowBits: i32,
): i32 {
  return saInstallAlg(index, ALG_AES_GCM, spi, keyMat, keyLen, icvLen, inbound, esn, windowBits);
}

/** Whether alg accepts this key length and ICV length: SA_OK or the SA_ERR_* to report. */
function checkAlg(alg: u32, keyLen: i32, icvLen: i32): i32 {
  if (alg == ALG_CHACHA20_POLY1305) {
    if (keyLen != 32) return SA_ERR_KEY; // RFC 7634 §2: 256-bit key
    if (icvLen != 16) return SA_ERR_ICV; // RFC 7634 §2: the full Poly1305 tag
    return SA_OK;
  }
  if (alg != ALG_AES_GCM && alg != ALG_AES_GMAC) return SA_ERR_ALG;
  if (keyLen != 16 && keyLen != 24 && keyLen != 32) return SA_ERR_KEY;
  if (alg == ALG_AES_GMAC) return icvLen == 16 ? SA_OK : SA_ERR_ICV; // RFC 4543 §3.4
  return icvLen == 8 || icvLen == 12 || icvLen == 16 ? SA_OK : SA_ERR_ICV; // RFC 4106 §8
}

/**
 * Install SA `index` with algorithm alg (ALG_*). keyMat = key ‖ 4-byte salt, keyLen the key
 * length: 16, 24 or 32 for AES-GCM and AES-GMAC, 32 for ChaCha20-Poly1305. Inbound SAs get a
 * replay state for `windowBits` (0 disables replay checking; the caller passes 0 only when
 * configured explicitly) and are entered in the SPI hash.
 * Returns SA_OK or an SA_ERR_* code, changing nothing on error.
 */
export function saInstallAlg(
  index: i32, alg: u32, spi: u32, keyMat: usize, keyLen: i32, icvLen: i32, inbound: i32, esn: i32, windowBits: i32,
): i32 {
  if (<u32>index >= <u32>saCap) return SA_ERR_INDEX;
  const sa = saAt(index);
  if (load<u32>(sa + SA_FLAGS) & SAF_USED) return SA_ERR_IN_USE;
  const ok = checkAlg(alg, keyLen, icvLen);
  if (ok != SA_OK) return ok;
  let replay: usize = 0;
  let rb: i32 = 0;
  if (inbound) {
    if (spi == 0) return SA_ERR_SPI_ZERO; // RFC 4303 §2.1: SPI 0 is reserved
    if (saLookup(spi) >= 0) return SA_ERR_SPI_DUP;
    rb = replayStateBytes(windowBits);
    if (rb < 0) return SA_ERR_WINDOW;
    replay = heap.alloc(<usize>rb);
    if (replay == 0) return SA_ERR_MEMORY;
    replayInit(replay, windowBits, esn);
  }
  if (alg == ALG_CHACHA20_POLY1305) ccpInit(sa + SA_KEY, keyMat, keyLen);
  else gcmInit(sa + SA_KEY, keyMat, keyLen);
  store<u32>(sa + SA_SPI, spi);
  store<u32>(sa + SA_SALT, load<u32>(keyMat + <usize>keyLen));
  store<u16>(sa + SA_ICV, <u16>icvLen);
  store<u16>(sa + SA_ALG, <u16>alg);
  store<u64>(sa + SA_SEQ, 0);
  store<u32>(sa + SA_REPLAY, <u32>replay);
  store<u32>(sa + SA_TFC, 0);
  store<u32>(sa + SA_REPLAY_LEN, rb);
  store<u32>(sa + SA_ENCAP, 0);
  store<i32>(sa + SA_TUNNEL, -1);
  store<u32>(sa + SA_SEL, 0);
  store<i32>(sa + SA_NEXT_OUT, -1);
  store<u32>(sa + SA_FLAGS, SAF_USED | (inbound ? SAF_INBOUND : 0) | (esn ? SAF_ESN : 0));
  if (inbound) hashInsert(spi, index);
  return SA_OK;
}

/** Remove SA `index`: zero its key material and whole record, free its replay state. */
export function saRemove(index: i32): i32 {
  const sa = saPtr(index);
  if (sa == 0) return SA_ERR_INDEX;
  if (load<u32>(sa + SA_FLAGS) & SAF_INBOUND) hashRemove(load<u32>(sa + SA_SPI));
  const replay = <usize>load<u32>(sa + SA_REPLAY);
  if (replay != 0) {
    memory.fill(replay, 0, <usize>load<u32>(sa + SA_REPLAY_LEN));
    heap.free(replay);
  }
  const sel = <usize>load<u32>(sa + SA_SEL);
  if (sel != 0) heap.free(sel);
  // Key material first, whichever algorithm (the whole record is zeroed right after).
  if (<u32>load<u16>(sa + SA_ALG) == ALG_CHACHA20_POLY1305) ccpWipe(sa + SA_KEY);
  else gcmWipe(sa + SA_KEY);
  memory.fill(sa, 0, <usize>SA_RECORD_BYTES);
  return SA_OK;
}

/**
 * Bind SA `index` to tunnel `tunnel` (−1: none), with tunnel-mode selectors `sel` (a block of
 * esp/selectors.ts allocated with heap_alloc, which the SA then owns; 0: transport mode).
 */
export function saBind(index: i32, tunnel: i32, sel: usize): i32 {
  const sa = saPtr(index);
  if (sa == 0) return SA_ERR_INDEX;
  const old = <usize>load<u32>(sa + SA_SEL);
  if (old != 0 && old != sel) heap.free(old);
  store<i32>(sa + SA_TUNNEL, tunnel);
  store<u32>(sa + SA_SEL, <u32>sel);
  return SA_OK;
}

/** Link outbound SA `index` to `next` in its tunnel's list (−1: the last). */
export function saSetNextOut(index: i32, next: i32): i32 {
  const sa = saPtr(index);
  if (sa == 0 || (next >= 0 && saPtr(next) == 0)) return SA_ERR_INDEX;
  store<i32>(sa + SA_NEXT_OUT, next);
  return SA_OK;
}

/** Set the outbound counter (the last sequence number sent), e.g. to resume or to test. */
export function saSetSeq(index: i32, seq: u64): i32 {
  const sa = saPtr(index);
  if (sa == 0) return SA_ERR_INDEX;
  store<u64>(sa + SA_SEQ, seq);
  store<u32>(sa + SA_FLAGS, load<u32>(sa + SA_FLAGS) & ~SAF_SPENT);
  return SA_OK;
}

/** Extra TFC padding (RFC 4303 §2.4, §2.7) per outbound packet, in bytes (multiple of 4, ≤ 252). */
export function saSetTfcPad(index: i32, bytes: i32): i32 {
  const sa = saPtr(index);
  if (sa == 0) return SA_ERR_INDEX;
  if (bytes < 0 || bytes > 252 || (bytes & 3) != 0) return SA_ERR_ICV;
  store<u32>(sa + SA_TFC, bytes);
  return SA_OK;
}

/** RFC 3948: UDP-encapsulate this outbound SA's packets with these ports (0, 0 = raw ESP). */
export function saSetEncap(index: i32, sport: i32, dport: i32): i32 {
  const sa = saPtr(index);
  if (sa == 0) return SA_ERR_INDEX;
  if (<u32>sport > 0xffff || <u32>dport > 0xffff || (sport == 0) != (dport == 0)) return SA_ERR_ICV;
  store<u32>(sa + SA_ENCAP, (<u32>sport << 16) | <u32>dport);
  return SA_OK;
}

/** The algorithm (ALG_*) of SA index, or −1 when not installed. */
export function saAlg(index: i32): i32 {
  const sa = saPtr(index);
  return sa == 0 ? -1 : <i32>load<u16>(sa + SA_ALG);
}

/** Read-only facts of SA index for TypeScript: flags, or 0 when not installed. */
export function saFlags(index: i32): u32 {
  const sa = saPtr(index);
  return sa == 0 ? 0 : load<u32>(sa + SA_FLAGS);
}
