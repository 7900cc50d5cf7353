// ChaCha20-Poly1305 AEAD (RFC 8439 §2.8) over chacha20.ts and poly1305.ts; ESP uses it as
// RFC 7634 describes (nonce = 4-byte salt ‖ 8-byte IV, built by the ESP layer, not here).
//
// Seal (§2.8, steps numbered as in the RFC's pseudo-code):
//   1. otk = first 32 bytes of ChaCha20(key, nonce, counter 0)   (§2.6 poly1305_key_gen)
//   2. C = P xor ChaCha20(key, nonce, counter 1 ..)
//   3. tag = Poly1305(otk, AAD ‖ pad16 ‖ C ‖ pad16 ‖ le64(|AAD|) ‖ le64(|C|))
// One 4-block call at counter 0 gives the one-time key (block 0) and the keystream of the
// first 192 bytes (blocks 1..3), so a packet of ≤ 192 bytes costs one ChaCha20 call.
//
// Open never releases plaintext unless the tag verifies: the tag is computed over the
// ciphertext first, compared in constant time (OR-accumulate, one branch on the result),
// and only then is the ciphertext decrypted. On failure nothing is written to out.
//
// Batches use the descriptor layout of gcm.ts (DESC_BYTES, D_*), so src/gcm-batch.ts's
// GcmBatch serves both AEADs; D_KS is unused here.

import { chacha20Keystream4, chacha20Xor, xorBytes, CHACHA_KEY_LEN, CHACHA_BLOCKS4 } from "./chacha20";
import { poly1305Init, poly1305Pad16, poly1305Blocks, poly1305Finish, POLY1305_STATE_BYTES } from "./poly1305";
import {
  DESC_BYTES, D_NONCE, D_AAD, D_AAD_LEN, D_IN, D_IN_LEN, D_OUT, D_RESULT, GCM_ERR_AUTH, GCM_ERR_LENGTH,
} from "./gcm";

// RFC 8439 §2.8 constants.
export const CCP_KEY_LEN: i32 = 32;
export const CCP_NONCE_LEN: i32 = 12;
export const CCP_TAG_LEN: i32 = 16;

// Context layout (implementation constants): the 256-bit key, nothing derived from it.
export const CCP_CTX_KEY: i32 = 0;
export const CCP_CTX_BYTES: i32 = CHACHA_KEY_LEN;

// Result codes: the same numbers as gcm.ts, so GcmBatch.error() reads them.
export const CCP_ERR_AUTH: i32 = GCM_ERR_AUTH; // tag did not verify (or input shorter than the tag)
export const CCP_ERR_LENGTH: i32 = GCM_ERR_LENGTH; // a length is negative

// Scratch (wiped after every packet): keystream blocks 0..3, Poly1305 state, lengths
// block, computed tag.
const scratch: usize = memory.data(CHACHA_BLOCKS4 + POLY1305_STATE_BYTES + 32, 16);
const S_KS: usize = 0;
const S_POLY: usize = <usize>CHACHA_BLOCKS4;
const S_LENS: usize = S_POLY + <usize>POLY1305_STATE_BYTES;
const S_TAG: usize = S_LENS + 16;
const S_BYTES: usize = S_TAG + 16;
/** Bytes of data whose keystream comes with the one-time key (blocks 1..3 of the first call). */
const FIRST: i32 = CHACHA_BLOCKS4 - 64;

@inline function clearScratch(): void {
  memory.fill(scratch, 0, S_BYTES);
}

/** Set up a context from a 32-byte key. Returns 1, or 0 for a bad key length. */
export function ccpInit(ctx: usize, key: usize, keyLen: i32): i32 {
  if (keyLen != CCP_KEY_LEN) return 0;
  memory.copy(ctx + CCP_CTX_KEY, key, <usize>CCP_KEY_LEN);
  return 1;
}

/** Zero a context. */
export function ccpWipe(ctx: usize): void {
  memory.fill(ctx, 0, <usize>CCP_CTX_BYTES);
}

/** Steps 1 (and the keystream of blocks 1..3) plus the MAC of the AAD. */
@inline function begin(key: usize, nonce: usize, aad: usize, aadLen: i32): void {
  chacha20Keystream4(key, nonce, 0, scratch + S_KS);
  poly1305Init(scratch + S_POLY, scratch + S_KS); // §2.6: otk = block 0 [0..32)
  poly1305Pad16(scratch + S_POLY, aad, aadLen);
}

/** Step 3 after the ciphertext: pad16(C), le64 lengths, tag into scratch + S_TAG. */
@inline function finish(ct: usize, len: i32, aadLen: i32): void {
  poly1305Pad16(scratch + S_POLY, ct, len);
  store<u64>(scratch + S_LENS, <u64>aadLen);
  store<u64>(scratch + S_LENS, <u64>len, 8);
  poly1305Blocks(scratch + S_POLY, scratch + S_LENS, 1, 1);
  poly1305Finish(scratch + S_POLY, scratch + S_TAG);
}

/** Step 2: the first FIRST bytes from blocks 1..3 in scratch, the rest from counter 4 on. */
@inline function crypt(key: usize, nonce: usize, src: usize, dst: usize, len: i32): void {
  const head = len < FIRST ? len : FIRST;
  xorBytes(dst, src, scratch + S_KS + 64, head);
  if (len > FIRST) chacha20Xor(key, nonce, 4, src + <usize>FIRST, dst + <usize>FIRST, len - FIRST);
}

/**
 * Seal one message: out = C ‖ T, |C| = len, |T| = 16. Returns len + 16, or CCP_ERR_LENGTH.
 * out may equal pt (in place).
 */
export function ccpSeal(ctx: usize, nonce: usize, aad: usize, aadLen: i32, pt: usize, len: i32, out: usize): i32 {
  if (len < 0 || aadLen < 0) return CCP_ERR_LENGTH;
  const key = ctx + CCP_CTX_KEY;
  begin(key, nonce, aad, aadLen);
  crypt(key, nonce, pt, out, len);
  finish(out, len, aadLen);
  v128.store(out + <usize>len, v128.load(scratch + S_TAG));
  clearScratch();
  return len + CCP_TAG_LEN;
}

/**
 * Open one message: sealed = C ‖ T. Writes P to out and returns |P|, or CCP_ERR_AUTH without
 * writing anything to out. out may equal sealed.
 */
export function ccpOpen(ctx: usize, nonce: usize, aad: usize, aadLen: i32, sealed: usize, sealedLen: i32, out: usize): i32 {
  if (aadLen < 0) return CCP_ERR_LENGTH;
  if (sealedLen < CCP_TAG_LEN) return CCP_ERR_AUTH;
  const len = sealedLen - CCP_TAG_LEN;
  const key = ctx + CCP_CTX_KEY;
  begin(key, nonce, aad, aadLen);
  finish(sealed, len, aadLen);
  // Constant-time compare: OR-accumulate the differences, one branch on the total.
  const t = sealed + <usize>len;
  const diff = (load<u64>(scratch + S_TAG) ^ load<u64>(t)) | (load<u64>(scratch + S_TAG, 8) ^ load<u64>(t, 8));
  if (diff != 0) {
    clearScratch();
    return CCP_ERR_AUTH;
  }
  crypt(key, nonce, sealed, out, len);
  clearScratch();
  return len;
}

// ---------------------------------------------------------------------------------------
// Batches: n descriptors of gcm.ts's layout at desc, one key.

/** Seal every packet of a batch. Returns the number sealed. */
export function ccpBatchSeal(ctx: usize, desc: usize, n: i32): i32 {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * DESC_BYTES);
    const r = ccpSeal(
      ctx, load<u32>(d + D_NONCE), load<u32>(d + D_AAD), load<i32>(d + D_AAD_LEN),
      load<u32>(d + D_IN), load<i32>(d + D_IN_LEN), load<u32>(d + D_OUT),
    );
    store<i32>(d + D_RESULT, r);
    if (r >= 0) ok++;
  }
  return ok;
}

/** Open every packet of a batch. Returns the number that verified. */
export function ccpBatchOpen(ctx: usize, desc: usize, n: i32): i32 {
  let ok = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * DESC_BYTES);
    const r = ccpOpen(
      ctx, load<u32>(d + D_NONCE), load<u32>(d + D_AAD), load<i32>(d + D_AAD_LEN),
      load<u32>(d + D_IN), load<i32>(d + D_IN_LEN), load<u32>(d + D_OUT),
    );
    store<i32>(d + D_RESULT, r);
    if (r >= 0) ok++;
  }
  return ok;
}
