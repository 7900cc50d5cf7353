// AES-GCM (NIST SP 800-38D) over the constant-time AES (aes.ts) and GHASH (ghash.ts).
//
// Only 96-bit nonces are supported: J0 = IV ‖ 0^31 ‖ 1 (SP 800-38D §7.1 step 2). That is
// the only form ESP uses (RFC 4106 §4: nonce = salt ‖ 8-byte IV).
//
// Two ways to produce the keystream, with identical output:
//   - "wasm":  AES-CTR in this module (aesCtr32), packet by packet;
//   - "keystream": the caller has already placed E_K(J0), E_K(J0+1), … for every packet
//     of a batch in memory (counters written by gcmBatchCounters, encrypted in one call
//     by node:crypto's AES-ECB, i.e. AES-NI, or by aesEcbBlocks here). Then only the XOR,
//     GHASH and the tag remain here.
//
// Open never releases plaintext unless the tag verifies: the tag is computed over the
// ciphertext first, compared in constant time (OR-accumulate, one branch on the result),
// and only then is the ciphertext decrypted.

import { aesExpandKey, aesEncryptBlock, aesCtr32, aesEcbBlocks, AES_RK_BYTES } from "./aes";
import { ghashInit, ghashUpdate, ghashLengths, GHASH_KEY_BYTES } from "./ghash";

// SP 800-38D / RFC 4106 constants.
export const GCM_BLOCK: i32 = 16;
export const GCM_NONCE_LEN: i32 = 12;
export const GCM_TAG_MAX: i32 = 16;

// Context layout (implementation constants): round keys, GHASH key material, parameters.
export const CTX_RK: i32 = 0;
export const CTX_HKEY: i32 = AES_RK_BYTES;
export const CTX_ROUNDS: i32 = AES_RK_BYTES + GHASH_KEY_BYTES;
export const CTX_KEYLEN: i32 = CTX_ROUNDS + 4;
export const GCM_CTX_BYTES: i32 = CTX_ROUNDS + 16;

// Batch descriptor: one per packet, 8 × i32 (implementation constants, read by src/core).
export const D_NONCE: i32 = 0; // pointer to the 12-byte nonce
export const D_AAD: i32 = 4; // pointer to the AAD
export const D_AAD_LEN: i32 = 8;
export const D_IN: i32 = 12; // pointer to plaintext (seal) or ciphertext‖tag (open)
export const D_IN_LEN: i32 = 16;
export const D_OUT: i32 = 20; // pointer to where the output goes (may equal D_IN)
export const D_KS: i32 = 24; // offset of this packet's keystream (set by gcmBatchCounters)
export const D_RESULT: i32 = 28; // output length, or a negative GcmError
export const DESC_BYTES: i32 = 32;

// Result codes (negative so that a result is either a length or an error).
export const GCM_ERR_AUTH: i32 = -1; // tag did not verify (or input shorter than the tag)
export const GCM_ERR_TAG_LEN: i32 = -2; // tag length not 8, 12 or 16
export const GCM_ERR_LENGTH: i32 = -3; // a length is negative

// Scratch for one packet's J0, counter, tag mask and GHASH state. Cleared after use.
const scratch: usize = memory.data(64, 16);
const S_J0: usize = 0;
const S_CTR: usize = 16;
const S_Y: usize = 32;
const S_T: usize = 48;

@inline function isTagLen(t: i32): bool {
  return t == 8 || t == 12 || t == 16;
}

/** Set up a context from a 16/24/32-byte key. Returns 1, or 0 for a bad key length. */
export function gcmInit(ctx: usize, key: usize, keyLen: i32): i32 {
  const rounds = aesExpandKey(key, keyLen, ctx + CTX_RK);
  if (rounds == 0) return 0;
  // H = E_K(0^128) (SP 800-38D §6.4).
  v128.store(scratch, i64x2.splat(0));
  aesEncryptBlock(ctx + CTX_RK, rounds, scratch, scratch);
  ghashInit(scratch, ctx + CTX_HKEY);
  v128.store(scratch, i64x2.splat(0));
  store<i32>(ctx + CTX_ROUNDS, rounds);
  store<i32>(ctx + CTX_KEYLEN, keyLen);
  return 1;
}

/** Zero a context (key schedule and GHASH key material). */
export function gcmWipe(ctx: usize): void {
  memory.fill(ctx, 0, <usize>GCM_CTX_BYTES);
}

@inline function clearScratch(): void {
  v128.store(scratch, i64x2.splat(0));
  v128.store(scratch + 16, i64x2.splat(0));
  v128.store(scratch + 32, i64x2.splat(0));
  v128.store(scratch + 48, i64x2.splat(0));
}

/** J0 = nonce ‖ 00000001 into scratch; the data counter J0+1 next to it. */
@inline function setCounters(nonce: usize): void {
  store<u64>(scratch + S_J0, load<u64>(nonce));
  store<u32>(scratch + S_J0 + 8, load<u32>(nonce + 8));
  store<u32>(scratch + S_J0 + 12, 0x01000000); // big-endian 1
  v128.store(scratch + S_CTR, v128.load(scratch + S_J0));
  store<u32>(scratch + S_CTR + 12, 0x02000000); // inc32(J0)
}

/** S = GHASH_H(A ‖ 0* ‖ C ‖ 0* ‖ len(A) ‖ len(C)) into scratch+S_Y (SP 800-38D §7.1 step 5). */
@inline function ghashAll(ctx: usize, aad: usize, aadLen: i32, ct: usize, ctLen: i32): void {
  v128.store(scratch + S_Y, i64x2.splat(0));
  ghashUpdate(ctx + CTX_HKEY, scratch + S_Y, aad, aadLen);
  ghashUpdate(ctx + CTX_HKEY, scratch + S_Y, ct, ctLen);
  ghashLengths(ctx + CTX_HKEY, scratch + S_Y, <u64>aadLen << 3, <u64>ctLen << 3);
}

/**
 * Constant-time comparison of the first tagLen bytes of the computed tag (S xor E(J0),
 * held as two v128 in scratch) against the received tag: OR-accumulate the differences,
 * then branch once on the total (BearSSL EQ0, noble equalBytes).
 */
@inline function tagDiffers(tagMask: usize, got: usize, tagLen: i32): bool {
  const t = v128.xor(v128.load(scratch + S_Y), v128.load(tagMask));
  let diff: u64 = 0;
  // tagLen is public (8, 12 or 16); the data compared are not.
  diff |= i64x2.extract_lane(t, 0) ^ load<u64>(got);
  if (tagLen == 12) {
    diff |= <u64>(<u32>i64x2.extract_lane(t, 1) ^ load<u32>(got + 8));
  } else if (tagLen == 16) {
    diff |= i64x2.extract_lane(t, 1) ^ load<u64>(got + 8);
  }
  return diff != 0;
}

@inline function writeTag(tagMask: usize, dst: usize, tagLen: i32): void {
  const t = v128.xor(v128.load(scratch + S_Y), v128.load(tagMask));
  store<u64>(dst, i64x2.extract_lane(t, 0));
  if (tagLen == 12) store<u32>(dst + 8, <u32>i64x2.extract_lane(t, 1));
  else if (tagLen == 16) store<u64>(dst + 8, i64x2.extract_lane(t, 1));
}

/**
 * Seal one message: out = C ‖ T, |C| = len. Returns len + tagLen, or a negative code.
 * out may equal pt (in place).
 */
export function gcmSeal(
  ctx: usize, nonce: usize, aad: usize, aadLen: i32, pt: usize, len: i32, out: usize, tagLen: i32,
): i32 {
  if (!isTagLen(tagLen)) return GCM_ERR_TAG_LEN;
  if (len < 0 || aadLen < 0) return GCM_ERR_LENGTH;
  const rk = ctx + CTX_RK;
  const rounds = load<i32>(ctx + CTX_ROUNDS);
  setCounters(nonce);
  aesEncryptBlock(rk, rounds, scratch + S_J0, scratch + S_T); // E_K(J0)
  aesCtr32(rk, rounds, scratch + S_CTR, pt, out, len);
  ghashAll(ctx, aad, aadLen, out, len);
  writeTag(scratch + S_T, out + <usize>len, tagLen);
  clearScratch();
  return len + tagLen;
}

/**
 * Open one message: sealed = C ‖ T with |T| = tagLen. Writes P to out and returns |P|,
 * or GCM_ERR_AUTH without writing anything to out. out may equal sealed.
 */
export function gcmOpen(
  ctx: usize, nonce: usize, aad: usize, aadLen: i32, sealed: usize, sealedLen: i32, out: usize, tagLen: i32,
): i32 {
  if (!isTagLen(tagLen)) return GCM_ERR_TAG_LEN;
  if (aadLen < 0) return GCM_ERR_LENGTH;
  if (sealedLen < tagLen) return GCM_ERR_AUTH;
  const len = sealedLen - tagLen;
  const rk = ctx + CTX_RK;
  const rounds = load<i32>(ctx + CTX_ROUNDS);
  setCounters(nonce);
  aesEncryptBlock(rk, rounds, scratch + S_J0, scratch + S_T);
  ghashAll(ctx, aad, aadLen, sealed, len);
  if (tagDiffers(scratch + S_T, sealed + <usize>len, tagLen)) {
    clearScratch();
    return GCM_ERR_AUTH;
  }
  aesCtr32(rk, rounds, scratch + S_CTR, sealed, out, len);
  clearScratch();
  return len;
}

// ---------------------------------------------------------------------------------------
// GMAC (SP 800-38D §3: GCM with an empty plaintext, all data authenticated as AAD), as ESP
// uses it for ENCR_NULL_AUTH_AES_GMAC (RFC 4543 §3). The AAD comes in two pieces so that
// ESP can authenticate its header without copying the packet: `head` (a multiple of 16
// bytes: it is hashed as whole blocks) and then `rest`; GHASH sees head ‖ rest as one AAD.
// The tag is always 16 bytes (RFC 4543 §3.4: the ICV is 16 octets).

export const GMAC_TAG_LEN: i32 = 16;

/** S = GHASH_H(head ‖ rest ‖ 0* ‖ len(A) ‖ 0^64) and E_K(J0) into scratch. */
@inline function gmacAll(ctx: usize, nonce: usize, head: usize, headLen: i32, rest: usize, restLen: i32): void {
  setCounters(nonce);
  aesEncryptBlock(ctx + CTX_RK, load<i32>(ctx + CTX_ROUNDS), scratch + S_J0, scratch + S_T);
  v128.store(scratch + S_Y, i64x2.splat(0));
  ghashUpdate(ctx + CTX_HKEY, scratch + S_Y, head, headLen);
  ghashUpdate(ctx + CTX_HKEY, scratch + S_Y, rest, restLen);
  ghashLengths(ctx + CTX_HKEY, scratch + S_Y, <u64>(headLen + restLen) << 3, 0);
}

/**
 * GMAC tag of the AAD head ‖ rest, written to out (16 bytes). Returns 16, or GCM_ERR_LENGTH
 * when a length is negative or headLen is not a multiple of 16.
 */
export function gmacSign(ctx: usize, nonce: usize, head: usize, headLen: i32, rest: usize, restLen: i32, out: usize): i32 {
  if (headLen < 0 || (headLen & 15) != 0 || restLen < 0) return GCM_ERR_LENGTH;
  gmacAll(ctx, nonce, head, headLen, rest, restLen);
  writeTag(scratch + S_T, out, GMAC_TAG_LEN);
  clearScratch();
  return GMAC_TAG_LEN;
}

/**
 * Verify a 16-byte GMAC tag over head ‖ rest in constant time. Returns 0 when it verifies,
 * GCM_ERR_AUTH when not, GCM_ERR_LENGTH for bad lengths.
 */
export function gmacVerify(ctx: usize, nonce: usize, head: usize, headLen: i32, rest: usize, restLen: i32, tag: usize): i32 {
  if (headLen < 0 || (headLen & 15) != 0 || restLen < 0) return GCM_ERR_LENGTH;
  gmacAll(ctx, nonce, head, headLen, rest, restLen);
  const bad = tagDiffers(scratch + S_T, tag, GMAC_TAG_LEN);
  clearScratch();
  return bad ? GCM_ERR_AUTH : 0;
}

// ---------------------------------------------------------------------------------------
// Batches: n descriptors at desc, one key. The hot path of everything above this module.

/** Seal every packet of a batch with this module's AES. Returns the number sealed. */
export function gcmBatchSeal(ctx: usize, desc: usize, n: i32, tagLen: i32): i32 {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * DESC_BYTES);
    const r = gcmSeal(
      ctx, load<u32>(d + D_NONCE), load<u32>(d + D_AAD), load<i32>(d + D_AAD_LEN),
      load<u32>(d + D_IN), load<i32>(d + D_IN_LEN), load<u32>(d + D_OUT), tagLen,
    );
    store<i32>(d + D_RESULT, r);
    if (r >= 0) ok++;
  }
  return ok;
}

/** Open every packet of a batch with this module's AES. Returns the number that verified. */
export function gcmBatchOpen(ctx: usize, desc: usize, n: i32, tagLen: i32): i32 {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * DESC_BYTES);
    const r = gcmOpen(
      ctx, load<u32>(d + D_NONCE), load<u32>(d + D_AAD), load<i32>(d + D_AAD_LEN),
      load<u32>(d + D_IN), load<i32>(d + D_IN_LEN), load<u32>(d + D_OUT), tagLen,
    );
    store<i32>(d + D_RESULT, r);
    if (r >= 0) ok++;
  }
  return ok;
}

/**
 * Keystream path, step 1: write the counter blocks J0, J0+1, …, J0+⌈len/16⌉ of every packet
 * contiguously at ks, recording each packet's offset in D_KS. `opening` says whether D_IN_LEN
 * includes a tag of tagLen bytes. Returns the number of bytes written (a multiple of 16),
 * which the caller encrypts in place in one AES-ECB call. Packets with bad lengths get no
 * blocks; their error is reported by step 2.
 */
export function gcmBatchCounters(desc: usize, n: i32, ks: usize, opening: i32, tagLen: i32): i32 {
  let off: i32 = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * DESC_BYTES);
    let len = load<i32>(d + D_IN_LEN);
    if (opening) len -= tagLen;
    store<i32>(d + D_KS, off);
    if (len < 0) continue;
    const nonce = <usize>load<u32>(d + D_NONCE);
    const lo = load<u64>(nonce);
    const mid = load<u32>(nonce + 8);
    const blocks = 1 + ((len + 15) >>> 4);
    let p = ks + <usize>off;
    for (let b: u32 = 1; b <= <u32>blocks; b++) {
      store<u64>(p, lo);
      store<u32>(p + 8, mid);
      store<u32>(p + 12, bswap<u32>(b)); // J0 has counter 1; data starts at 2 (inc32)
      p += 16;
    }
    off += blocks << 4;
  }
  return off;
}

/**
 * The counter blocks J0, J0+1, …, J0+⌈len/16⌉ of one message with a 12-byte nonce, at ks.
 * Returns the bytes written (the keystream step 1 of gcmBatchCounters, for one message).
 */
export function gcmCounters(nonce: usize, len: i32, ks: usize): i32 {
  const lo = load<u64>(nonce);
  const mid = load<u32>(nonce + 8);
  const blocks = 1 + ((len + 15) >>> 4);
  let p = ks;
  for (let b: u32 = 1; b <= <u32>blocks; b++) {
    store<u64>(p, lo);
    store<u32>(p + 8, mid);
    store<u32>(p + 12, bswap<u32>(b)); // J0 has counter 1; data starts at 2 (inc32)
    p += 16;
  }
  return blocks << 4;
}

/**
 * Open one message whose keystream E_K(J0) ‖ E_K(J0+1) ‖ … is already at ks (gcmCounters,
 * then encrypted): the same result as gcmOpen, and like it, nothing is written to out
 * unless the tag verifies.
 */
export function gcmOpenKs(
  ctx: usize, aad: usize, aadLen: i32, sealed: usize, sealedLen: i32, out: usize, tagLen: i32, ks: usize,
): i32 {
  if (!isTagLen(tagLen)) return GCM_ERR_TAG_LEN;
  if (aadLen < 0) return GCM_ERR_LENGTH;
  if (sealedLen < tagLen) return GCM_ERR_AUTH;
  const len = sealedLen - tagLen;
  ghashAll(ctx, aad, aadLen, sealed, len);
  const bad = tagDiffers(ks, sealed + <usize>len, tagLen);
  v128.store(scratch + S_Y, i64x2.splat(0));
  if (bad) return GCM_ERR_AUTH;
  xorKeystream(out, sealed, ks + 16, len);
  return len;
}

/** Encrypt the counter blocks of step 1 in place with this module's AES (pure wasm path). */
export function gcmKeystream(ctx: usize, ks: usize, bytes: i32): void {
  aesEcbBlocks(ctx + CTX_RK, load<i32>(ctx + CTX_ROUNDS), ks, ks, bytes >>> 4);
}

/** XOR len bytes of src with the keystream at ks into dst (in place allowed). */
@inline function xorKeystream(dst: usize, src: usize, ks: usize, len: i32): void {
  let i: i32 = 0;
  for (; i + 16 <= len; i += 16) {
    v128.store(dst + <usize>i, v128.xor(v128.load(src + <usize>i), v128.load(ks + <usize>i)));
  }
  for (; i < len; i++) {
    store<u8>(dst + <usize>i, load<u8>(src + <usize>i) ^ load<u8>(ks + <usize>i));
  }
}

/** Keystream path, step 2 for sealing. Returns the number sealed. */
export function gcmBatchSealKs(ctx: usize, desc: usize, n: i32, ks: usize, tagLen: i32): i32 {
  if (!isTagLen(tagLen)) return GCM_ERR_TAG_LEN;
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * DESC_BYTES);
    const len = load<i32>(d + D_IN_LEN);
    const aadLen = load<i32>(d + D_AAD_LEN);
    if (len < 0 || aadLen < 0) {
      store<i32>(d + D_RESULT, GCM_ERR_LENGTH);
      continue;
    }
    const k = ks + <usize>load<i32>(d + D_KS);
    const out = <usize>load<u32>(d + D_OUT);
    xorKeystream(out, <usize>load<u32>(d + D_IN), k + 16, len);
    ghashAll(ctx, <usize>load<u32>(d + D_AAD), aadLen, out, len);
    writeTag(k, out + <usize>len, tagLen);
    store<i32>(d + D_RESULT, len + tagLen);
    ok++;
  }
  v128.store(scratch + S_Y, i64x2.splat(0));
  return ok;
}

/** Keystream path, step 2 for opening. Returns the number that verified. */
export function gcmBatchOpenKs(ctx: usize, desc: usize, n: i32, ks: usize, tagLen: i32): i32 {
  if (!isTagLen(tagLen)) return GCM_ERR_TAG_LEN;
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * DESC_BYTES);
    const len = load<i32>(d + D_IN_LEN) - tagLen;
    const aadLen = load<i32>(d + D_AAD_LEN);
    if (aadLen < 0) {
      store<i32>(d + D_RESULT, GCM_ERR_LENGTH);
      continue;
    }
    if (len < 0) {
      store<i32>(d + D_RESULT, GCM_ERR_AUTH);
      continue;
    }
    const k = ks + <usize>load<i32>(d + D_KS);
    const sealed = <usize>load<u32>(d + D_IN);
    ghashAll(ctx, <usize>load<u32>(d + D_AAD), aadLen, sealed, len);
    if (tagDiffers(k, sealed + <usize>len, tagLen)) {
      store<i32>(d + D_RESULT, GCM_ERR_AUTH);
      continue;
    }
    xorKeystream(<usize>load<u32>(d + D_OUT), sealed, k + 16, len);
    store<i32>(d + D_RESULT, len);
    ok++;
  }
  v128.store(scratch + S_Y, i64x2.splat(0));
  return ok;
}
