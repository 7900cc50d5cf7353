// ESP (RFC 4303) with AES-GCM (RFC 4106), ChaCha20-Poly1305 (RFC 7634) or AES-GMAC
// (RFC 4543, integrity only): protect and unprotect batches of packets in wasm memory. Each
// packet is a slot (buf, off, len) described by a 48-byte descriptor; results are written
// back into the descriptor and the packet is transformed in place. The three algorithms
// share the framing (8-byte IV = the 64-bit sequence number, nonce = salt ‖ IV, 4-byte
// padding) and differ only in step 6 (outbound) and step 4 (inbound).
//
// Outbound, per packet (RFC 4303 §3.3):
//   1. SA lookup by index (the SPD chose it), direction and spent checks
//   2. sequence number: last + 1, refused if it would pass 2^32−1 (2^64−1 with ESN)
//   3. room check: 16 bytes of headroom for SPI ‖ seq ‖ IV, tailroom for padding, ICV
//   4. header (SPI, seq), IV = the 64-bit sequence number (unique under the key, RFC 4106 §3.1,
//      RFC 7634 §2, RFC 4543 §3.1)
//   5. trailer: padding 1, 2, 3, … to a 4-byte boundary (+ TFC padding), pad length, next header
//   6. nonce = salt ‖ IV, then by algorithm:
//        AES-GCM, ChaCha20-Poly1305: seal in place, AAD = SPI ‖ seq or SPI ‖ seq-hi ‖ seq-lo
//        AES-GMAC: tag over SPI ‖ seq (‖ seq-hi) ‖ IV ‖ payload ‖ trailer; payload stays clear
//   7. counters
//   [8. RFC 3948 UDP header in front when the SA has encapsulation ports]
// Inbound, per packet (RFC 4303 §3.4), nothing in the SA changes unless all steps pass:
//   1. length ≥ ESP header; SPI lookup in the hash
//   2. length ≥ header + IV + trailer + ICV
//   3. replay pre-check and ESN inference (replayCheck: pure)
//   4. ICV verification, then decryption (gcmOpen/ccpOpen release nothing on failure;
//      AES-GMAC only verifies)
//   5. pad length within the payload, padding bytes 1, 2, 3, …
//   6. replay window commit (replayCommit), counters
//   7. next header 59 (dummy) dropped and counted; anything else handed up

import { gcmSeal, gcmOpen, gcmOpenKs, gcmCounters, gmacSign, gmacVerify } from "../gcm";
import { ccpSeal, ccpOpen } from "../chacha20poly1305";
import { gmacAadHead, gmacRestOffset } from "./rfc4543";
import {
  ESP_HDR_LEN, GCM_IV_LEN, ESP_TRAILER_LEN, NEXT_HEADER_NONE, GCM_AAD_LEN, GCM_AAD_LEN_ESN,
  SEQ_MAX_32, SEQ_MAX_64,
} from "./rfc4303";
import { Drop, countDrop } from "./drop";
import {
  saPtr, saLookup, SA_KEY, SA_SPI, SA_SALT, SA_FLAGS, SA_ICV, SA_ALG, SA_SEQ, SA_REPLAY, SA_TFC,
  SA_PKTS, SA_OCTETS, SA_DROPS, SAF_INBOUND, SAF_ESN, SAF_SPENT, SA_ENCAP,
  ALG_CHACHA20_POLY1305, ALG_AES_GMAC, ALG_AES_GCM,
} from "./sa";
import { replayCheck, replayCommit, REPLAY_ERR_REPLAYED, REPLAY_ERR_TOO_OLD } from "./replay";
import { udpWrap } from "./rfc3948";
import {
  E_SA, E_BUF, E_OFF, E_LEN, E_CAP, E_NH, E_RESULT, E_OUT_OFF, E_SEQ_LO, E_SEQ_HI, E_KS, ESP_DESC_BYTES,
} from "./descriptor";


/** Headroom protect needs in front of the payload: SPI ‖ seq ‖ IV. */
export const ESP_HEADROOM: i32 = ESP_HDR_LEN + GCM_IV_LEN;

// Nonce (salt ‖ IV) and ESN AAD (or the RFC 4543 AAD head) for one packet; not secret,
// but cleared anyway.
const nonceBuf: usize = memory.data(16, 16);
const aadBuf: usize = memory.data(16, 16);

@inline function drop(d: usize, sa: usize, reason: Drop): void {
  store<i32>(d + E_RESULT, -(<i32>reason));
  countDrop(sa != 0 ? sa + SA_DROPS : 0, <i32>reason);
}

/** Protect one packet described at d. */
export function protectOne(d: usize): void {
  const sa = saPtr(load<i32>(d + E_SA));
  if (sa == 0 || load<u32>(sa + SA_FLAGS) & SAF_INBOUND) {
    drop(d, 0, Drop.BadSa);
    return;
  }
  const flags = load<u32>(sa + SA_FLAGS);
  const esn = (flags & SAF_ESN) != 0;
  const last = load<u64>(sa + SA_SEQ);
  // RFC 4303 §3.3.3: the counter must never cycle; the SA is spent and must be rekeyed.
  if ((flags & SAF_SPENT) != 0 || last >= (esn ? SEQ_MAX_64 : SEQ_MAX_32)) {
    store<u32>(sa + SA_FLAGS, flags | SAF_SPENT);
    drop(d, sa, Drop.SeqExhausted);
    return;
  }
  const seq = last + 1;
  const buf = <usize>load<u32>(d + E_BUF);
  const off = load<i32>(d + E_OFF);
  const len = load<i32>(d + E_LEN);
  const cap = load<i32>(d + E_CAP);
  const icv = <i32>load<u16>(sa + SA_ICV);
  const encap = load<u32>(sa + SA_ENCAP);
  const head = ESP_HEADROOM + (encap != 0 ? 8 : 0);
  // RFC 4303 §2.4: padding so that pad length and next header end on a 4-byte boundary.
  const pad = ((4 - ((len + ESP_TRAILER_LEN) & 3)) & 3) + load<i32>(sa + SA_TFC);
  const inner = len + pad + ESP_TRAILER_LEN;
  if (len < 0 || off < head || <i64>off + <i64>inner + <i64>icv > <i64>cap) {
    drop(d, sa, Drop.NoRoom);
    return;
  }
  const esp = buf + <usize>(off - ESP_HEADROOM);
  const spi = load<u32>(sa + SA_SPI);
  store<u32>(esp, bswap<u32>(spi));
  store<u32>(esp + 4, bswap<u32>(<u32>seq));
  store<u64>(esp + 8, bswap<u64>(seq)); // IV
  const p = buf + <usize>off;
  for (let i = 0; i < pad; i++) store<u8>(p + <usize>(len + i), <u8>(i + 1));
  store<u8>(p + <usize>(len + pad), <u8>pad);
  store<u8>(p + <usize>(len + pad + 1), <u8>load<i32>(d + E_NH));
  // RFC 4106 §4, RFC 7634 §2, RFC 4543 §3.2: nonce = salt ‖ IV.
  store<u32>(nonceBuf, load<u32>(sa + SA_SALT));
  store<u64>(nonceBuf + 4, load<u64>(esp + 8));
  const alg = <u32>load<u16>(sa + SA_ALG);
  if (alg == ALG_AES_GMAC) {
    // RFC 4543 §3.3: all of SPI … next header is AAD; the plaintext is empty.
    const head = gmacAadHead(esp, <u32>(seq >>> 32), esn, aadBuf);
    const rest = gmacRestOffset(esn);
    gmacSign(sa + SA_KEY, nonceBuf, aadBuf, head, esp + <usize>rest, ESP_HEADROOM + inner - rest, p + <usize>inner);
  } else {
    let aad = esp;
    let aadLen = GCM_AAD_LEN;
    if (esn) {
      // RFC 4106 §5, RFC 7634 §2.1: SPI ‖ seq-high ‖ seq-low.
      store<u32>(aadBuf, bswap<u32>(spi));
      store<u32>(aadBuf + 4, bswap<u32>(<u32>(seq >>> 32)));
      store<u32>(aadBuf + 8, bswap<u32>(<u32>seq));
      aad = aadBuf;
      aadLen = GCM_AAD_LEN_ESN;
    }
    if (alg == ALG_CHACHA20_POLY1305) ccpSeal(sa + SA_KEY, nonceBuf, aad, aadLen, p, inner, p);
    else gcmSeal(sa + SA_KEY, nonceBuf, aad, aadLen, p, inner, p, icv);
  }
  store<u64>(sa + SA_SEQ, seq);
  // The last number this SA may use: report it spent now, so the control plane rekeys.
  if (seq == (esn ? SEQ_MAX_64 : SEQ_MAX_32)) store<u32>(sa + SA_FLAGS, flags | SAF_SPENT);
  store<u64>(sa + SA_PKTS, load<u64>(sa + SA_PKTS) + 1);
  store<u64>(sa + SA_OCTETS, load<u64>(sa + SA_OCTETS) + <u64>len);
  let outOff = off - ESP_HEADROOM;
  let outLen = ESP_HEADROOM + inner + icv;
  if (encap != 0) {
    outOff -= 8;
    outLen += 8;
    udpWrap(buf + <usize>outOff, outLen, <u16>(encap >>> 16), <u16>encap);
  }
  store<i32>(d + E_OUT_OFF, outOff);
  store<i32>(d + E_SEQ_LO, <i32>seq);
  store<i32>(d + E_SEQ_HI, <i32>(seq >>> 32));
  store<i32>(d + E_RESULT, outLen);
}

/** Unprotect one ESP packet described at d. */
export function unprotectOne(d: usize): void {
  unprotectWith(d, 0);
}

/**
 * Unprotect one ESP packet described at d. ks = 0: AES in this module. Otherwise an AES-GCM
 * packet whose E_KS is ≥ 0 takes its keystream from ks + E_KS (espUnprotectCounters, then
 * encrypted by the caller); every check, and its order, is the same.
 */
@inline function unprotectWith(d: usize, ks: usize): void {
  store<i32>(d + E_SA, -1);
  const buf = <usize>load<u32>(d + E_BUF);
  const off = load<i32>(d + E_OFF);
  const len = load<i32>(d + E_LEN);
  if (len < ESP_HDR_LEN || off < 0) {
    drop(d, 0, Drop.Runt);
    return;
  }
  const esp = buf + <usize>off;
  const spi = bswap<u32>(load<u32>(esp));
  const idx = saLookup(spi);
  if (idx < 0) {
    drop(d, 0, Drop.NoSa);
    return;
  }
  store<i32>(d + E_SA, idx);
  const sa = saPtr(idx);
  const icv = <i32>load<u16>(sa + SA_ICV);
  if (len < ESP_HEADROOM + ESP_TRAILER_LEN + icv) {
    drop(d, sa, Drop.BadLen);
    return;
  }
  const seqLo = bswap<u32>(load<u32>(esp + 4));
  const rs = <usize>load<u32>(sa + SA_REPLAY);
  const seq = replayCheck(rs, seqLo);
  if (seq < 0) {
    drop(d, sa, seq == REPLAY_ERR_REPLAYED ? Drop.Replayed : seq == REPLAY_ERR_TOO_OLD ? Drop.TooOld : Drop.BadSeq);
    return;
  }
  store<u32>(nonceBuf, load<u32>(sa + SA_SALT));
  store<u64>(nonceBuf + 4, load<u64>(esp + 8));
  const esn = (load<u32>(sa + SA_FLAGS) & SAF_ESN) != 0;
  const alg = <u32>load<u16>(sa + SA_ALG);
  const p = esp + <usize>ESP_HEADROOM;
  let ptLen: i32;
  if (alg == ALG_AES_GMAC) {
    // RFC 4543 §3.3: verify the tag over SPI … next header; the payload is already clear.
    const head = gmacAadHead(esp, <u32>(<u64>seq >>> 32), esn, aadBuf);
    const rest = gmacRestOffset(esn);
    const body = len - icv; // SPI … next header
    ptLen = gmacVerify(sa + SA_KEY, nonceBuf, aadBuf, head, esp + <usize>rest, body - rest, esp + <usize>body);
    if (ptLen == 0) ptLen = body - ESP_HEADROOM;
  } else {
    let aad = esp;
    let aadLen = GCM_AAD_LEN;
    if (esn) {
      store<u32>(aadBuf, load<u32>(esp));
      store<u32>(aadBuf + 4, bswap<u32>(<u32>(<u64>seq >>> 32)));
      store<u32>(aadBuf + 8, load<u32>(esp + 4));
      aad = aadBuf;
      aadLen = GCM_AAD_LEN_ESN;
    }
    if (alg == ALG_CHACHA20_POLY1305) ptLen = ccpOpen(sa + SA_KEY, nonceBuf, aad, aadLen, p, len - ESP_HEADROOM, p);
    else if (ks != 0 && load<i32>(d + E_KS) >= 0) {
      ptLen = gcmOpenKs(sa + SA_KEY, aad, aadLen, p, len - ESP_HEADROOM, p, icv, ks + <usize>load<i32>(d + E_KS));
    } else ptLen = gcmOpen(sa + SA_KEY, nonceBuf, aad, aadLen, p, len - ESP_HEADROOM, p, icv);
  }
  if (ptLen < 0) {
    drop(d, sa, Drop.IntegFail);
    return;
  }
  // RFC 4303 §2.4: pad length must lie within the payload; padding bytes are 1, 2, 3, …
  const padLen = <i32>load<u8>(p + <usize>(ptLen - 2));
  const nh = <i32>load<u8>(p + <usize>(ptLen - 1));
  const payloadLen = ptLen - ESP_TRAILER_LEN - padLen;
  if (payloadLen < 0) {
    drop(d, sa, Drop.BadPad);
    return;
  }
  let bad: i32 = 0;
  const pp = p + <usize>payloadLen;
  for (let i = 0; i < padLen; i++) bad |= <i32>load<u8>(pp + <usize>i) ^ (i + 1);
  if (bad != 0) {
    drop(d, sa, Drop.BadPad);
    return;
  }
  // RFC 4303 §3.4.3: the window moves only for packets whose ICV verified.
  replayCommit(rs, seq);
  store<i32>(d + E_SEQ_LO, <i32>seq);
  store<i32>(d + E_SEQ_HI, <i32>(<u64>seq >>> 32));
  store<i32>(d + E_NH, nh);
  if (nh == NEXT_HEADER_NONE) {
    // RFC 4303 §2.6: dummy packets are discarded (after counting them).
    drop(d, sa, Drop.Dummy);
    return;
  }
  store<u64>(sa + SA_PKTS, load<u64>(sa + SA_PKTS) + 1);
  store<u64>(sa + SA_OCTETS, load<u64>(sa + SA_OCTETS) + <u64>payloadLen);
  store<i32>(d + E_OUT_OFF, off + ESP_HEADROOM);
  store<i32>(d + E_RESULT, payloadLen);
}

/** Clear the per-packet nonce/AAD scratch (after a batch). */
export function espClearScratch(): void {
  v128.store(nonceBuf, i64x2.splat(0));
  v128.store(aadBuf, i64x2.splat(0));
}

/** Protect n packets. Returns how many were protected. */
export function espProtectBatch(desc: usize, n: i32): i32 {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * ESP_DESC_BYTES);
    protectOne(d);
    if (load<i32>(d + E_RESULT) >= 0) ok++;
  }
  espClearScratch();
  return ok;
}

/** Unprotect n packets. Returns how many were accepted (dummies and drops excluded). */
export function espUnprotectBatch(desc: usize, n: i32): i32 {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * ESP_DESC_BYTES);
    unprotectOne(d);
    if (load<i32>(d + E_RESULT) >= 0) ok++;
  }
  espClearScratch();
  return ok;
}

// Keystream path (TypeScript's "node" engine: AES from node:crypto, one call per SA and batch;
// GHASH, the tag check, replay and every other step stay here).
//   1. espUnprotectCounters(desc, n, −1, …): SA lookup of every packet into E_SA, E_KS = −1
//   2. per SA of the batch that has a keystream cipher: espUnprotectCounters(desc, n, sa, ks,
//      off) writes the counter blocks of that SA's AES-GCM packets; the caller encrypts them
//   3. espUnprotectBatchKs: as espUnprotectBatch, with those packets' keystreams

/**
 * sa = −1: look up every packet's SA (E_SA, −1 when none) and clear E_KS. sa ≥ 0: for each
 * packet of that AES-GCM SA long enough to open, write its counter blocks (J0 = salt ‖ IV ‖ 1,
 * then the data counters) at ks + off and set E_KS = off. Returns the new end offset.
 */
export function espUnprotectCounters(desc: usize, n: i32, sa: i32, ks: usize, off: i32): i32 {
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * ESP_DESC_BYTES);
    const len = load<i32>(d + E_LEN);
    if (sa < 0) {
      store<i32>(d + E_KS, -1);
      const o = load<i32>(d + E_OFF);
      const idx = len < ESP_HDR_LEN || o < 0 ? -1 : saLookup(bswap<u32>(load<u32>(<usize>load<u32>(d + E_BUF) + <usize>o)));
      store<i32>(d + E_SA, idx);
      continue;
    }
    if (load<i32>(d + E_SA) != sa) continue;
    const p = saPtr(sa);
    if (<u32>load<u16>(p + SA_ALG) != ALG_AES_GCM) continue;
    const ct = len - ESP_HEADROOM - <i32>load<u16>(p + SA_ICV);
    if (ct < ESP_TRAILER_LEN) continue;
    const esp = <usize>load<u32>(d + E_BUF) + <usize>load<i32>(d + E_OFF);
    store<u32>(nonceBuf, load<u32>(p + SA_SALT));
    store<u64>(nonceBuf + 4, load<u64>(esp + 8));
    store<i32>(d + E_KS, off);
    off += gcmCounters(nonceBuf, ct, ks + <usize>off);
  }
  espClearScratch();
  return off;
}

/** Unprotect n packets, keystreams from ks (see above). Returns how many were accepted. */
export function espUnprotectBatchKs(desc: usize, n: i32, ks: usize): i32 {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * ESP_DESC_BYTES);
    unprotectWith(d, ks);
    if (load<i32>(d + E_RESULT) >= 0) ok++;
  }
  espClearScratch();
  return ok;
}
