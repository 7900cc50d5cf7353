// GHASH, the universal hash of GCM (NIST SP 800-38D §6.4), constant-time, for wasm SIMD.
//
// API (all data through raw pointers into linear memory; no allocation, no globals written):
//   ghashInit(h, hkey)                  16-byte H = E_K(0^128) -> GHASH_KEY_BYTES of key material
//   ghashUpdate(hkey, y, data, len)     Y <- GHASH step over len bytes (last partial block zero-padded)
//   ghashLengths(hkey, y, aBits, cBits) one more block: [len(A)]_64 || [len(C)]_64, big-endian
// The 16-byte state at y is the field element exactly as SP 800-38D writes blocks (byte 0 holds
// x^0..x^7, most significant bit first: "bit-reflected"). No alignment is required for any pointer.
//
// HOW (names say how they compute):
//  * Representation. Inside, an element is "natural": bit i of the 128-bit little-endian vector is
//    the coefficient of x^i, seen as four 32-bit limbs a0..a3. Converting from/to the GCM byte order
//    is a bit reversal within each byte (revBitsInBytes: two 16-entry nibble tables applied with
//    i8x16.swizzle, a register permutation, not a memory lookup).
//  * Multiplication. Wasm has no carry-less multiply. We use integer multiplication on words with
//    "holes" (the technique of BearSSL's ghash_ctmul32/ctmul64, T. Pornin): split each operand into
//    4 classes of bits (masks 0x1111..., 0x2222..., 0x4444..., 0x8888...). A product of two class
//    words only has one-bits at positions of one class, and at most 8 terms meet at a position of
//    the low 32 bits, so integer carries never reach the next bit of that class: bit k of
//    XOR_{a+b=c mod 4} x_a*y_b, masked with class c, is bit k of the carry-less product.
//    i32x4.mul (pmulld) gives the LOW 32 bits of four such products at once (clmulLo32x4*).
//    The HIGH half comes from bit-reversed operands, as in BearSSL:
//    rev32(lo32(rev32(a) * rev32(b))) >> 1 = bits 32..62 of a*b.
//  * Karatsuba, two levels, on 32-bit limbs: 9 limb products of 32x32 bits instead of 16
//    (128 = 64+64, 64 = 32+32; operand sums built by karatsubaSums / karatsubaCenter).
//    9 products x (low, high) = 18 lane-products; two blocks are aggregated so that they fill
//    exactly 9 vectors of 4 lanes.
//  * Aggregated reduction: two blocks per step, Y' = (Y ^ X1)*H^2 ^ X2*H, using precomputed H and
//    H^2. Products of both blocks are XORed before the class masking, the limb recombination and
//    the one reduction (masking, recombination and reduction are all linear over GF(2)).
//  * Reduction modulo P = x^128 + x^7 + x^2 + x + 1 (SP 800-38D §6.3, R = 11100001 || 0^120 is the
//    same polynomial in the reflected order): for the 256-bit product Lo + Hi*x^128,
//    x^128 = x^7 + x^2 + x + 1, so fold Hi*(1 + x + x^2 + x^7), then fold its 7 overflowing bits
//    once more. Shifts and XORs only.
//
// KEY MATERIAL (GHASH_KEY_BYTES = 512): for P in (H^2 at +0, H at +256), 4 vectors of 4 classes
// (64 bytes each): +0 limbs of P, +64 each limb bit-reversed, +128 Karatsuba sums of the limbs,
// +192 the same of the reversed limbs. The 4 "center" vectors (a0^a1^a2^a3 of H^2 and H) are
// derived from these per call (combineCenter), not stored.
//
// CONSTANT TIME: no branch and no memory address depends on H, Y or the data; the only branches
// and addresses depend on len and loop counters. Every operation on secrets is a fixed-latency SIMD
// instruction on x64 and arm64 (pand/pxor/pmulld/pshufb/shifts; V8 lowers i8x16.swizzle to
// paddusb+pshufb, i32x4.mul to pmulld / mul.4s). No secret-indexed tables. Caveat: this is about
// what the code asks for; the JIT (Liftoff or TurboFan) could in principle emit something else
// (we checked V8 11.3 / Node 20 x64 TurboFan output: straight-line SIMD, spills to stack slots at
// fixed offsets). Spill slots and the y state hold secrets; callers should clear y when done.
//
// PERFORMANCE NOTE (V8 11.3): TurboFan emits pure operations in reverse-BFS order from their uses,
// which interleaves the 144 multiplications of a step and spills heavily. after() below adds
// ordering edges that cost one zero-idiom (xor r,r is dependency-free on the CPU); with them the
// hot loop is ~1.7x faster. Don't "simplify" them away.

/** Bytes of precomputed key material per key (16-byte multiple). */
export const GHASH_KEY_BYTES: i32 = 512;

// ---- class masks (4-bit hole spacing, BearSSL) ----
@inline function M0(): v128 { return i32x4.splat(0x11111111); }
@inline function M1(): v128 { return i32x4.splat(0x22222222); }
@inline function M2(): v128 { return i32x4.splat(0x44444444); }
@inline function M3(): v128 { return i32x4.splat(<i32>0x88888888); }

/** Returns x, with a scheduling dependency on prev (xor prev,prev is a zero idiom). */
@inline function after(x: v128, prev: v128): v128 { return v128.xor(x, v128.xor(prev, prev)); }

// ---- bit order conversions ----

/** Reverse the bit order inside every byte: GCM byte order <-> natural order. Involution. */
@inline function revBitsInBytes(v: v128): v128 {
  const lo = v128.and(v, i8x16.splat(0x0f));
  const hi = v128.and(i16x8.shr_u(v, 4), i8x16.splat(0x0f));
  // rev4(n) << 4 and rev4(n), n = 0..15 (indices always < 16: swizzle never zeroes)
  const tlo = i8x16(0x00, <i8>0x80, 0x40, <i8>0xc0, 0x20, <i8>0xa0, 0x60, <i8>0xe0,
                    0x10, <i8>0x90, 0x50, <i8>0xd0, 0x30, <i8>0xb0, 0x70, <i8>0xf0);
  const thi = i8x16(0x0, 0x8, 0x4, 0xc, 0x2, 0xa, 0x6, 0xe, 0x1, 0x9, 0x5, 0xd, 0x3, 0xb, 0x7, 0xf);
  return v128.or(v128.swizzle(tlo, lo), v128.swizzle(thi, hi));
}

@inline function bswap32Lanes(v: v128): v128 {
  return i8x16.shuffle(v, v, 3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
}

/** Reverse the 32 bits of each lane. */
@inline function rev32Lanes(v: v128): v128 { return revBitsInBytes(bswap32Lanes(v)); }

// ---- Karatsuba operand sums (two levels on limbs a0..a3) ----

/** [a0^a1, a2^a3, a0^a2, a1^a3]: middle limbs of the two low-level 64x64 products and the
 *  limbs of the top-level middle operand (a0a1 ^ a2a3). */
@inline function karatsubaSums(v: v128): v128 {
  const t = v128.xor(v, i32x4.shuffle(v, v, 1, 0, 3, 2)); // [a0^a1, ., a2^a3, .]
  const u = v128.xor(v, i32x4.shuffle(v, v, 2, 3, 0, 1)); // [a0^a2, a1^a3, ., .]
  return i32x4.shuffle(t, u, 0, 2, 4, 5);
}

/** [s, rev s, s, rev s] with s = a0^a1^a2^a3 (middle limb of the top-level middle product),
 *  from karatsubaSums of the limbs (sums) and of the reversed limbs (rsums). */
@inline function karatsubaCenter(sums: v128, rsums: v128): v128 {
  return v128.xor(i32x4.shuffle(sums, rsums, 2, 6, 2, 6), i32x4.shuffle(sums, rsums, 3, 7, 3, 7));
}

// ---- 32x32 carry-less products with holes, 4 lanes ----

/** Per lane: low 32 bits of clmul(x, h) XOR low 32 bits of clmul(y, g); h and g given as 4 class
 *  vectors at hp and gp. Accumulators z_c collect the class-c product bits, masked once at the end. */
@inline function clmulLo32x4Holes2(x: v128, hp: usize, y: v128, gp: usize): v128 {
  // x * h: input class a times stored class b lands in output class (a+b) & 3
  let xa = v128.and(x, M0());
  let h0 = v128.load(hp, 0), h1 = v128.load(hp, 16), h2 = v128.load(hp, 32), h3 = v128.load(hp, 48);
  let z0 = i32x4.mul(xa, h0), z1 = i32x4.mul(xa, h1), z2 = i32x4.mul(xa, h2), z3 = i32x4.mul(xa, h3);
  xa = v128.and(x, M1());
  z1 = v128.xor(z1, i32x4.mul(xa, h0)); z2 = v128.xor(z2, i32x4.mul(xa, h1));
  z3 = v128.xor(z3, i32x4.mul(xa, h2)); z0 = v128.xor(z0, i32x4.mul(xa, h3));
  xa = v128.and(x, M2());
  z2 = v128.xor(z2, i32x4.mul(xa, h0)); z3 = v128.xor(z3, i32x4.mul(xa, h1));
  z0 = v128.xor(z0, i32x4.mul(xa, h2)); z1 = v128.xor(z1, i32x4.mul(xa, h3));
  xa = v128.and(x, M3());
  z3 = v128.xor(z3, i32x4.mul(xa, h0)); z0 = v128.xor(z0, i32x4.mul(xa, h1));
  z1 = v128.xor(z1, i32x4.mul(xa, h2)); z2 = v128.xor(z2, i32x4.mul(xa, h3));
  // y * g into the same accumulators, scheduled after the x * h part (keeps 4 H vectors live)
  const yb = after(y, z2);
  xa = v128.and(yb, M0());
  h0 = v128.load(gp, 0); h1 = v128.load(gp, 16); h2 = v128.load(gp, 32); h3 = v128.load(gp, 48);
  z0 = v128.xor(z0, i32x4.mul(xa, h0)); z1 = v128.xor(z1, i32x4.mul(xa, h1));
  z2 = v128.xor(z2, i32x4.mul(xa, h2)); z3 = v128.xor(z3, i32x4.mul(xa, h3));
  xa = v128.and(yb, M1());
  z1 = v128.xor(z1, i32x4.mul(xa, h0)); z2 = v128.xor(z2, i32x4.mul(xa, h1));
  z3 = v128.xor(z3, i32x4.mul(xa, h2)); z0 = v128.xor(z0, i32x4.mul(xa, h3));
  xa = v128.and(yb, M2());
  z2 = v128.xor(z2, i32x4.mul(xa, h0)); z3 = v128.xor(z3, i32x4.mul(xa, h1));
  z0 = v128.xor(z0, i32x4.mul(xa, h2)); z1 = v128.xor(z1, i32x4.mul(xa, h3));
  xa = v128.and(yb, M3());
  z3 = v128.xor(z3, i32x4.mul(xa, h0)); z0 = v128.xor(z0, i32x4.mul(xa, h1));
  z1 = v128.xor(z1, i32x4.mul(xa, h2)); z2 = v128.xor(z2, i32x4.mul(xa, h3));
  return v128.or(v128.or(v128.and(z0, M0()), v128.and(z1, M1())), v128.or(v128.and(z2, M2()), v128.and(z3, M3())));
}

/** Per lane: low 32 bits of clmul(x, h), h given as 4 class vectors. */
@inline function clmulLo32x4Holes(x: v128, h0: v128, h1: v128, h2: v128, h3: v128): v128 {
  let xa = v128.and(x, M0());
  let z0 = i32x4.mul(xa, h0), z1 = i32x4.mul(xa, h1), z2 = i32x4.mul(xa, h2), z3 = i32x4.mul(xa, h3);
  xa = v128.and(x, M1());
  z1 = v128.xor(z1, i32x4.mul(xa, h0)); z2 = v128.xor(z2, i32x4.mul(xa, h1));
  z3 = v128.xor(z3, i32x4.mul(xa, h2)); z0 = v128.xor(z0, i32x4.mul(xa, h3));
  xa = v128.and(x, M2());
  z2 = v128.xor(z2, i32x4.mul(xa, h0)); z3 = v128.xor(z3, i32x4.mul(xa, h1));
  z0 = v128.xor(z0, i32x4.mul(xa, h2)); z1 = v128.xor(z1, i32x4.mul(xa, h3));
  xa = v128.and(x, M3());
  z3 = v128.xor(z3, i32x4.mul(xa, h0)); z0 = v128.xor(z0, i32x4.mul(xa, h1));
  z1 = v128.xor(z1, i32x4.mul(xa, h2)); z2 = v128.xor(z2, i32x4.mul(xa, h3));
  return v128.or(v128.or(v128.and(z0, M0()), v128.and(z1, M1())), v128.or(v128.and(z2, M2()), v128.and(z3, M3())));
}

// ---- key material ----

@inline function storeClasses(p: usize, v: v128): void {
  v128.store(p, v128.and(v, M0()), 0); v128.store(p, v128.and(v, M1()), 16);
  v128.store(p, v128.and(v, M2()), 32); v128.store(p, v128.and(v, M3()), 48);
}

/** Store the 256 bytes for one power P (natural limbs pn) at p. */
function storePower(p: usize, pn: v128): void {
  const pr = rev32Lanes(pn);
  storeClasses(p, pn); storeClasses(p + 64, pr);
  storeClasses(p + 128, karatsubaSums(pn)); storeClasses(p + 192, karatsubaSums(pr));
}

/** Class c of [s(H^2), rev s(H^2), s(H), rev s(H)] (karatsubaCenter of both powers). Class
 *  masking commutes with XOR and with whole-lane shuffles, so this is computed from stored classes. */
@inline function combineCenter(hkey: usize, c: usize): v128 {
  const a = karatsubaCenter(v128.load(hkey + 128 + 16 * c), v128.load(hkey + 192 + 16 * c));
  const b = karatsubaCenter(v128.load(hkey + 384 + 16 * c), v128.load(hkey + 448 + 16 * c));
  return i32x4.shuffle(a, b, 0, 1, 6, 7);
}

// ---- recombination and reduction ----

/** From the 9 Karatsuba limb products (l = low halves, q = low halves of reversed operands, i.e.
 *  reversed high halves), rebuild the 256-bit product and reduce it mod x^128 + x^7 + x^2 + x + 1.
 *  l1,q1: a0b0 a1b1 a2b2 a3b3; l2,q2: (a0^a1)(..) (a2^a3)(..) (a0^a2)(..) (a1^a3)(..);
 *  lc lanes 0,1: low, reversed-low of s*s'. */
@inline function combineKaratsubaReduce(l1: v128, q1: v128, l2: v128, q2: v128, lc: v128): v128 {
  // high halves (bits 32..62) of each 32x32 product
  const hi1 = i32x4.shr_u(rev32Lanes(q1), 1);
  const hi2 = i32x4.shr_u(rev32Lanes(q2), 1);
  const hic = i32x4.shr_u(rev32Lanes(lc), 1);
  // 64-bit limb products, two per vector
  const pa = i32x4.shuffle(l1, hi1, 0, 4, 1, 5); // [a0b0, a1b1]
  const pb = i32x4.shuffle(l1, hi1, 2, 6, 3, 7); // [a2b2, a3b3]
  const pc = i32x4.shuffle(l2, hi2, 0, 4, 1, 5); // [(a0^a1)(b0^b1), (a2^a3)(b2^b3)]
  const pd = i32x4.shuffle(l2, hi2, 2, 6, 3, 7); // [(a0^a2)(b0^b2), (a1^a3)(b1^b3)]
  const ps = i32x4.shuffle(lc, hic, 0, 5, 0, 5); // [s s', s s']
  // lower Karatsuba level: middle terms of the three 64x64 products LL, HH, MM
  const mid = v128.xor(v128.xor(i64x2.shuffle(pa, pb, 0, 2), i64x2.shuffle(pa, pb, 1, 3)), pc);
  const midM = v128.xor(v128.xor(pd, i64x2.shuffle(pd, pd, 1, 0)), ps);
  const zero = i64x2.splat(0);
  const LL = v128.xor(pa, i32x4.shuffle(mid, zero, 4, 0, 1, 4));   // + mid * x^32
  const HH = v128.xor(pb, i32x4.shuffle(mid, zero, 4, 2, 3, 4));
  const MM = v128.xor(pd, i32x4.shuffle(midM, zero, 4, 0, 1, 4));
  // upper level: product = LL + (LL^HH^MM) x^64 + HH x^128
  const K = v128.xor(v128.xor(LL, HH), MM);
  const zlo = v128.xor(LL, i64x2.shuffle(K, zero, 2, 0));
  const zhi = v128.xor(HH, i64x2.shuffle(K, zero, 1, 2));
  // reduction: zlo ^ zhi*(1 + x + x^2 + x^7) with 128-bit shifts; f = [T, carry into lane 1],
  // T = the 7 bits shifted out of the top, folded again (T*(x+x^2+x^7) cannot overflow)
  const e = i64x2.shuffle(zhi, zhi, 1, 0);
  const f = v128.xor(v128.xor(i64x2.shr_u(e, 63), i64x2.shr_u(e, 62)), i64x2.shr_u(e, 57));
  const u = v128.xor(zhi, v128.and(f, i64x2(-1, 0)));
  return v128.xor(v128.xor(v128.xor(zlo, zhi), f),
    v128.xor(v128.xor(i64x2.shl(u, 1), i64x2.shl(u, 2)), i64x2.shl(u, 7)));
}

/** x1*H^2 ^ x2*H, reduced; all natural representation. c0..c3: combineCenter classes. */
@inline function mulPairReduce(hkey: usize, x1: v128, x2: v128, c0: v128, c1: v128, c2: v128, c3: v128): v128 {
  const r1 = rev32Lanes(x1), r2 = rev32Lanes(x2);
  const s1 = karatsubaSums(x1), rs1 = karatsubaSums(r1), s2 = karatsubaSums(x2), rs2 = karatsubaSums(r2);
  const center = i32x4.shuffle(karatsubaCenter(s1, rs1), karatsubaCenter(s2, rs2), 0, 1, 6, 7);
  // the after() edges make TurboFan emit the five product groups one after the other
  const l1 = clmulLo32x4Holes2(x1, hkey, x2, hkey + 256);
  const q1 = clmulLo32x4Holes2(after(r1, l1), hkey + 64, r2, hkey + 320);
  const l2 = clmulLo32x4Holes2(after(s1, q1), hkey + 128, s2, hkey + 384);
  const q2 = clmulLo32x4Holes2(after(rs1, l2), hkey + 192, rs2, hkey + 448);
  let lc = clmulLo32x4Holes(after(center, q2), c0, c1, c2, c3);
  lc = v128.xor(lc, i64x2.shuffle(lc, lc, 1, 0)); // s1*s(H^2) ^ s2*s(H)
  return combineKaratsubaReduce(l1, q1, l2, q2, lc);
}

/** Out-of-line mulPairReduce for the tail and the lengths block (keeps ghashUpdate small). */
function mulPairReduceOnce(hkey: usize, x1: v128, x2: v128): v128 {
  return mulPairReduce(hkey, x1, x2, combineCenter(hkey, 0), combineCenter(hkey, 1),
    combineCenter(hkey, 2), combineCenter(hkey, 3));
}

// ---- exports ----

/** Precompute key material at hkey (GHASH_KEY_BYTES) from the 16-byte hash subkey at h. */
export function ghashInit(h: usize, hkey: usize): void {
  const hn = revBitsInBytes(v128.load(h));
  storePower(hkey + 256, hn);
  // H^2 = H*H: the pair multiply with x1 = 0 computes x2*H. The H^2 half is read (times 0) before
  // it is written; clear it so no uninitialized memory is involved.
  const zero = i64x2.splat(0);
  for (let i: usize = 0; i < 256; i += 16) v128.store(hkey + i, zero);
  storePower(hkey, mulPairReduceOnce(hkey, zero, hn));
}

/** y <- GHASH_H(y; data[0..len)), final partial block zero-padded. len >= 0. */
export function ghashUpdate(hkey: usize, y: usize, data: usize, len: i32): void {
  if (len <= 0) return;
  let acc = revBitsInBytes(v128.load(y));
  let p = data;
  let n = len >> 4;
  if (n >= 2) {
    const c0 = combineCenter(hkey, 0), c1 = combineCenter(hkey, 1);
    const c2 = combineCenter(hkey, 2), c3 = combineCenter(hkey, 3);
    do {
      acc = mulPairReduce(hkey, v128.xor(acc, revBitsInBytes(v128.load(p))),
        revBitsInBytes(v128.load(p, 16)), c0, c1, c2, c3);
      p += 32; n -= 2;
    } while (n >= 2);
  }
  const rem = len & 15;
  if (n == 0 && rem == 0) { v128.store(y, revBitsInBytes(acc)); return; }
  // tail: at most one full block (n == 1) and one partial block (rem != 0)
  let tail = i64x2.splat(0);
  if (rem != 0) {
    const t = p + (<usize>n << 4);
    let a: u64 = 0, b: u64 = 0;
    for (let i = 0; i < rem; i++) {           // loop bounds and addresses depend on len only
      const byte = <u64>load<u8>(t + <usize>i);
      if (i < 8) a |= byte << (<u64>(i << 3)); else b |= byte << (<u64>((i - 8) << 3));
    }
    tail = revBitsInBytes(i64x2.replace_lane(i64x2.splat(a), 1, b));
  }
  if (n == 1) {
    const b1 = v128.xor(acc, revBitsInBytes(v128.load(p)));
    acc = rem != 0 ? mulPairReduceOnce(hkey, b1, tail) : mulPairReduceOnce(hkey, i64x2.splat(0), b1);
  } else {
    acc = mulPairReduceOnce(hkey, i64x2.splat(0), v128.xor(acc, tail));
  }
  v128.store(y, revBitsInBytes(acc));
}

/** y <- (y ^ ([aadBits]_64 || [ctBits]_64)) * H (SP 800-38D §7.1 step 5, last block). */
export function ghashLengths(hkey: usize, y: usize, aadBits: u64, ctBits: u64): void {
  const blk = i64x2.replace_lane(i64x2.splat(bswap<u64>(aadBits)), 1, bswap<u64>(ctBits));
  const x = v128.xor(revBitsInBytes(v128.load(y)), revBitsInBytes(blk));
  v128.store(y, revBitsInBytes(mulPairReduceOnce(hkey, i64x2.splat(0), x)));
}
