// AES-128/192/256 encryption core (FIPS-197), constant time, WebAssembly SIMD.
//
// Two engines share one key schedule:
//  * vpaes (Hamburg 2009, "Accelerating AES with Vector Permute Instructions";
//    constants and schedule structure as in OpenSSL crypto/aes/asm/vpaes-x86_64.pl):
//    SubBytes is a GF(2^4)-tower inversion whose 4-bit lookups are i8x16.swizzle on
//    constant vectors. Used for single blocks, 4-block groups and tails.
//  * bitsliced (Kasper-Schwabe 2009 layout, Boyar-Peralta S-box circuit as used in
//    BearSSL aes_ct): 8 blocks at once, plane b holds bit b of every state byte, byte p of
//    a plane = state byte p, bit q of that byte = block q. Used for runs of >= 8 blocks.
//
// Constant time: every branch and every memory address depends only on the key LENGTH,
// the round count, the byte length / block count and the pointers. No table in memory is
// indexed by key, counter or data; i8x16.swizzle lookups index constant vectors held in
// registers (pshufb), which is data-independent in time. The static tables (k_mc_forward,
// k_sr) are read at round-number-dependent offsets only. No static scratch memory is used;
// secrets live only in locals/registers and in the caller's rk/in/out/ctr buffers.
// Not constant time w.r.t.: keyLen (16/24/32) and len/nblocks (public).
//
// Layout of the round-key area rk (AES_RK_BYTES = 2160 bytes, no alignment needed):
//   [0, 240)      vpaes round keys, 16 bytes each (round 0 in input basis, rounds 1..nr-1
//                 "mangled", round nr in output basis with ShiftRows folded in)
//   [240, 2160)   bitsliced round keys, 128 bytes (8 planes) per round; rounds >= 1 carry
//                 the S-box affine constant 0x63 (the circuit's output NOTs are folded in)
// All loads/stores are unaligned-safe (v128.load/store); inp may equal out (in place), but
// partially overlapping inp/out is not supported.

// ---------------------------------------------------------------------------
// Constants (Hamburg 2009 / OpenSSL vpaes-x86_64.pl, same values; little-endian
// 64-bit halves, so i64x2(lo, hi) gives the same byte layout as `.quad lo, hi`).
// ---------------------------------------------------------------------------

@inline function S0F(): v128 { return i64x2(0x0F0F0F0F0F0F0F0F, 0x0F0F0F0F0F0F0F0F); }
@inline function INV(): v128 { return i64x2(0x0E05060F0D080180, 0x040703090A0B0C02); }
@inline function INVA(): v128 { return i64x2(0x01040A060F0B0780, 0x030D0E0C02050809); }
@inline function IPT_LO(): v128 { return i64x2(<i64>0xC2B2E8985A2A7000, <i64>0xCABAE09052227808); }
@inline function IPT_HI(): v128 { return i64x2(0x4C01307D317C4D00, <i64>0xCD80B1FCB0FDCC81); }
@inline function SB1U(): v128 { return i64x2(<i64>0xB19BE18FCB503E00, <i64>0xA5DF7A6E142AF544); }
@inline function SB1T(): v128 { return i64x2(0x3618D415FAE22300, 0x3BF7CCC10D2ED9EF); }
@inline function SB2U(): v128 { return i64x2(<i64>0xE27A93C60B712400, 0x5EB7E955BC982FCD); }
@inline function SB2T(): v128 { return i64x2(0x69EB88400AE12900, <i64>0xC2A163C8AB82234A); }
@inline function SBOU(): v128 { return i64x2(<i64>0xD0D26D176FBDC700, 0x15AABF7AC502A878); }
@inline function SBOT(): v128 { return i64x2(<i64>0xCFE474A55FBB6A00, <i64>0x8E1E90D1412B35FA); }
@inline function S63(): v128 { return i64x2(0x5B5B5B5B5B5B5B5B, 0x5B5B5B5B5B5B5B5B); }
@inline function OPT_LO(): v128 { return i64x2(<i64>0xFF9F4929D6B66000, <i64>0xF7974121DEBE6808); }
@inline function OPT_HI(): v128 { return i64x2(0x01EDBD5150BCEC00, <i64>0xE10D5DB1B05C0CE0); }
@inline function RCON0(): v128 { return i64x2(0x1F8391B9AF9DEEB6, 0x702A98084D7C7D81); }

// vpaes k_mc_forward[4] and k_sr[4] (used by the key schedule; the round code uses literals)
const MC_FORWARD: usize = memory.data<u64>([
  0x0407060500030201, 0x0C0F0E0D080B0A09,
  0x080B0A0904070605, 0x000302010C0F0E0D,
  0x0C0F0E0D080B0A09, 0x0407060500030201,
  0x000302010C0F0E0D, 0x080B0A0904070605,
], 16);
const SR: usize = memory.data<u64>([
  0x0706050403020100, 0x0F0E0D0C0B0A0908,
  0x030E09040F0A0500, 0x0B06010C07020D08,
  0x0F060D040B020900, 0x070E050C030A0108,
  0x0B0E0104070A0D00, 0x0306090C0F020508,
], 16);

export const AES_RK_BYTES: i32 = 240 + 15 * 128;

@inline function lut(t: v128, i: v128): v128 { return i8x16.swizzle(t, i); }

// Byte-wise GF(2)-linear change of basis via two nibble lookups (vpaes ipt/opt).
@inline function transform(x: v128, lo: v128, hi: v128): v128 {
  const s0f = S0F();
  return v128.xor(
    lut(lo, v128.and(x, s0f)),
    lut(hi, i16x8.shr_u(v128.andnot(x, s0f), 4)),
  );
}

// SubBytes, vpaes style (Hamburg 2009 sec. 3): split into nibbles i (high) and k (low), invert in
// GF(2^4)^2 with the k_inv tables (0x80 entries make index 0 map to 0), then apply the
// output tables tu/tt (which include the affine map). Returns tu[io] ^ tt[jo].
@inline function subBytesOut(x: v128, tu: v128, tt: v128): v128 {
  const s0f = S0F();
  const inv = INV();
  const i = i16x8.shr_u(v128.andnot(x, s0f), 4);
  const k = v128.and(x, s0f);
  const ak = lut(INVA(), k);
  const j = v128.xor(i, k);
  const iak = v128.xor(lut(inv, i), ak);
  const jak = v128.xor(lut(inv, j), ak);
  const io = v128.xor(lut(inv, iak), j);
  const jo = v128.xor(lut(inv, jak), i);
  return v128.xor(lut(tu, io), lut(tt, jo));
}

// One middle round (SubBytes, MixColumns, AddRoundKey; ShiftRows is folded into the
// rotating mc_forward/mc_backward permutations and the key schedule): vpaes .Lenc_loop.
@inline function midRound(x: v128, key: v128, mcf: v128, mcb: v128): v128 {
  const s0f = S0F();
  const inv = INV();
  const i = i16x8.shr_u(v128.andnot(x, s0f), 4);
  const k = v128.and(x, s0f);
  const ak = lut(INVA(), k);
  const j = v128.xor(i, k);
  const iak = v128.xor(lut(inv, i), ak);
  const jak = v128.xor(lut(inv, j), ak);
  const io = v128.xor(lut(inv, iak), j);
  const jo = v128.xor(lut(inv, jak), i);
  const a = v128.xor(v128.xor(lut(SB1U(), io), lut(SB1T(), jo)), key);
  const a2 = v128.xor(lut(SB2U(), io), lut(SB2T(), jo));
  const t = v128.xor(a2, lut(a, mcf));          // 2A + B
  const t2 = v128.xor(t, lut(a, mcb));          // 2A + B + D
  return v128.xor(lut(t, mcf), t2);             // 2A + 3B + C + D
}

// Final round: SubBytes with the sbo output tables, AddRoundKey, then the pending ShiftRows.
@inline function lastRound(x: v128, key: v128, sr: v128): v128 {
  return lut(v128.xor(subBytesOut(x, SBOU(), SBOT()), key), sr);
}

// mc_forward[m] / mc_backward[m] as literals, m known at compile time after inlining
@inline function MCF(m: i32): v128 {
  if (m == 0) return i64x2(0x0407060500030201, 0x0C0F0E0D080B0A09);
  if (m == 1) return i64x2(0x080B0A0904070605, 0x000302010C0F0E0D);
  if (m == 2) return i64x2(0x0C0F0E0D080B0A09, 0x0407060500030201);
  return i64x2(0x000302010C0F0E0D, 0x080B0A0904070605);
}
@inline function MCB(m: i32): v128 {
  if (m == 0) return i64x2(0x0605040702010003, 0x0E0D0C0F0A09080B);
  if (m == 1) return i64x2(0x020100030E0D0C0F, 0x0A09080B06050407);
  if (m == 2) return i64x2(0x0E0D0C0F0A09080B, 0x0605040702010003);
  return i64x2(0x0A09080B06050407, 0x020100030E0D0C0F);
}
@inline function SR2(): v128 { return i64x2(0x0F060D040B020900, 0x070E050C030A0108); }

@inline function rk(rk: usize, r: i32): v128 { return v128.load(rk + (<usize>r << 4)); }

// Middle round r uses mc index r & 3, so rounds are unrolled by 4 (m = 1,2,3,0) to keep the
// permutation masks as constants (plain pshufb in V8, no range fix-up). Middle rounds: 9/11/13.
@inline function encryptOne(rkp: usize, rounds: i32, x: v128): v128 {
  x = v128.xor(transform(x, IPT_LO(), IPT_HI()), v128.load(rkp));
  let r = 1;
  for (; r + 4 <= rounds; r += 4) {
    x = midRound(x, rk(rkp, r + 0), MCF(1), MCB(1));
    x = midRound(x, rk(rkp, r + 1), MCF(2), MCB(2));
    x = midRound(x, rk(rkp, r + 2), MCF(3), MCB(3));
    x = midRound(x, rk(rkp, r + 3), MCF(0), MCB(0));
  }
  x = midRound(x, rk(rkp, r), MCF(1), MCB(1));
  if (rounds == 12) {
    x = midRound(x, rk(rkp, r + 1), MCF(2), MCB(2));
    x = midRound(x, rk(rkp, r + 2), MCF(3), MCB(3));
    return v128.xor(subBytesOut(x, SBOU(), SBOT()), rk(rkp, rounds));
  }
  return lastRound(x, rk(rkp, rounds), SR2());
}

@inline function encryptFour(rkp: usize, rounds: i32, x0: v128, x1: v128, x2: v128, x3: v128,
                             inp: usize, out: usize, xorIn: bool): void {
  let k = v128.load(rkp);
  x0 = v128.xor(transform(x0, IPT_LO(), IPT_HI()), k);
  x1 = v128.xor(transform(x1, IPT_LO(), IPT_HI()), k);
  x2 = v128.xor(transform(x2, IPT_LO(), IPT_HI()), k);
  x3 = v128.xor(transform(x3, IPT_LO(), IPT_HI()), k);
  let r = 1;
  for (; r + 4 <= rounds; r += 4) {
    k = rk(rkp, r);
    x0 = midRound(x0, k, MCF(1), MCB(1)); x1 = midRound(x1, k, MCF(1), MCB(1));
    x2 = midRound(x2, k, MCF(1), MCB(1)); x3 = midRound(x3, k, MCF(1), MCB(1));
    k = rk(rkp, r + 1);
    x0 = midRound(x0, k, MCF(2), MCB(2)); x1 = midRound(x1, k, MCF(2), MCB(2));
    x2 = midRound(x2, k, MCF(2), MCB(2)); x3 = midRound(x3, k, MCF(2), MCB(2));
    k = rk(rkp, r + 2);
    x0 = midRound(x0, k, MCF(3), MCB(3)); x1 = midRound(x1, k, MCF(3), MCB(3));
    x2 = midRound(x2, k, MCF(3), MCB(3)); x3 = midRound(x3, k, MCF(3), MCB(3));
    k = rk(rkp, r + 3);
    x0 = midRound(x0, k, MCF(0), MCB(0)); x1 = midRound(x1, k, MCF(0), MCB(0));
    x2 = midRound(x2, k, MCF(0), MCB(0)); x3 = midRound(x3, k, MCF(0), MCB(0));
  }
  k = rk(rkp, r);
  x0 = midRound(x0, k, MCF(1), MCB(1)); x1 = midRound(x1, k, MCF(1), MCB(1));
  x2 = midRound(x2, k, MCF(1), MCB(1)); x3 = midRound(x3, k, MCF(1), MCB(1));
  k = rk(rkp, rounds);
  if (rounds == 12) {
    let k1 = rk(rkp, r + 1);
    x0 = midRound(x0, k1, MCF(2), MCB(2)); x1 = midRound(x1, k1, MCF(2), MCB(2));
    x2 = midRound(x2, k1, MCF(2), MCB(2)); x3 = midRound(x3, k1, MCF(2), MCB(2));
    k1 = rk(rkp, r + 2);
    x0 = midRound(x0, k1, MCF(3), MCB(3)); x1 = midRound(x1, k1, MCF(3), MCB(3));
    x2 = midRound(x2, k1, MCF(3), MCB(3)); x3 = midRound(x3, k1, MCF(3), MCB(3));
    x0 = v128.xor(subBytesOut(x0, SBOU(), SBOT()), k);
    x1 = v128.xor(subBytesOut(x1, SBOU(), SBOT()), k);
    x2 = v128.xor(subBytesOut(x2, SBOU(), SBOT()), k);
    x3 = v128.xor(subBytesOut(x3, SBOU(), SBOT()), k);
  } else {
    x0 = lastRound(x0, k, SR2()); x1 = lastRound(x1, k, SR2());
    x2 = lastRound(x2, k, SR2()); x3 = lastRound(x3, k, SR2());
  }
  if (xorIn) {
    x0 = v128.xor(x0, v128.load(inp, 0));
    x1 = v128.xor(x1, v128.load(inp, 16));
    x2 = v128.xor(x2, v128.load(inp, 32));
    x3 = v128.xor(x3, v128.load(inp, 48));
  }
  v128.store(out, x0, 0);
  v128.store(out, x1, 16);
  v128.store(out, x2, 32);
  v128.store(out, x3, 48);
}


// ---------------------------------------------------------------------------
// Bitsliced AES, 8 blocks at once
// ---------------------------------------------------------------------------

const BS_OFF: usize = 240;

@inline function X(a: v128, b: v128): v128 { return v128.xor(a, b); }
@inline function A(a: v128, b: v128): v128 { return v128.and(a, b); }

@inline function bsEncrypt8(rk: usize, rounds: i32,
    b0: v128, b1: v128, b2: v128, b3: v128, b4: v128, b5: v128, b6: v128, b7: v128,
    inp: usize, out: usize, xorIn: bool): void {
  const m1 = i64x2(0x5555555555555555, 0x5555555555555555);
  const m2 = i64x2(0x3333333333333333, 0x3333333333333333);
  const m4 = i64x2(0x0F0F0F0F0F0F0F0F, 0x0F0F0F0F0F0F0F0F);
  let t: v128;
  // 8x8 bit transpose per byte position (three SWAPMOVE layers): blocks -> bit planes
  t = A(X(i16x8.shr_u(b0, 1), b1), m1); b1 = X(b1, t); b0 = X(b0, i16x8.shl(t, 1));
  t = A(X(i16x8.shr_u(b2, 1), b3), m1); b3 = X(b3, t); b2 = X(b2, i16x8.shl(t, 1));
  t = A(X(i16x8.shr_u(b4, 1), b5), m1); b5 = X(b5, t); b4 = X(b4, i16x8.shl(t, 1));
  t = A(X(i16x8.shr_u(b6, 1), b7), m1); b7 = X(b7, t); b6 = X(b6, i16x8.shl(t, 1));
  t = A(X(i16x8.shr_u(b0, 2), b2), m2); b2 = X(b2, t); b0 = X(b0, i16x8.shl(t, 2));
  t = A(X(i16x8.shr_u(b1, 2), b3), m2); b3 = X(b3, t); b1 = X(b1, i16x8.shl(t, 2));
  t = A(X(i16x8.shr_u(b4, 2), b6), m2); b6 = X(b6, t); b4 = X(b4, i16x8.shl(t, 2));
  t = A(X(i16x8.shr_u(b5, 2), b7), m2); b7 = X(b7, t); b5 = X(b5, i16x8.shl(t, 2));
  t = A(X(i16x8.shr_u(b0, 4), b4), m4); b4 = X(b4, t); b0 = X(b0, i16x8.shl(t, 4));
  t = A(X(i16x8.shr_u(b1, 4), b5), m4); b5 = X(b5, t); b1 = X(b1, i16x8.shl(t, 4));
  t = A(X(i16x8.shr_u(b2, 4), b6), m4); b6 = X(b6, t); b2 = X(b2, i16x8.shl(t, 4));
  t = A(X(i16x8.shr_u(b3, 4), b7), m4); b7 = X(b7, t); b3 = X(b3, i16x8.shl(t, 4));
  let kp = rk + BS_OFF;
  b0 = X(b0, v128.load(kp, 0)); b1 = X(b1, v128.load(kp, 16));
  b2 = X(b2, v128.load(kp, 32)); b3 = X(b3, v128.load(kp, 48));
  b4 = X(b4, v128.load(kp, 64)); b5 = X(b5, v128.load(kp, 80));
  b6 = X(b6, v128.load(kp, 96)); b7 = X(b7, v128.load(kp, 112));
  for (let r = 1; ; r++) {
    kp += 128;
    // SubBytes: Boyar-Peralta circuit (eprint 2009/191), x0 = MSB plane; the output NOTs
    // (XOR 0x63) are folded into round keys 1..nr.
    const x0 = b7; const x1 = b6; const x2 = b5; const x3 = b4;
    const x4 = b3; const x5 = b2; const x6 = b1; const x7 = b0;
        const y14 = X(x3, x5); const y13 = X(x0, x6); const y9 = X(x0, x3); const y8 = X(x0, x5);
      const t0 = X(x1, x2); const y1 = X(t0, x7); const y4 = X(y1, x3); const y12 = X(y13, y14);
      const y2 = X(y1, x0); const y5 = X(y1, x6); const y3 = X(y5, y8); const t1 = X(x4, y12);
      const y15 = X(t1, x5); const y20 = X(t1, x1); const y6 = X(y15, x7); const y10 = X(y15, t0);
      const y11 = X(y20, y9); const y7 = X(x7, y11); const y17 = X(y10, y11); const y19 = X(y10, y8);
      const y16 = X(t0, y11); const y21 = X(y13, y16); const y18 = X(x0, y16); const t2 = A(y12, y15);
      const t3 = A(y3, y6); const t4 = X(t3, t2); const t5 = A(y4, x7); const t6 = X(t5, t2);
      const t7 = A(y13, y16); const t8 = A(y5, y1); const t9 = X(t8, t7); const t10 = A(y2, y7);
      const t11 = X(t10, t7); const t12 = A(y9, y11); const t13 = A(y14, y17); const t14 = X(t13, t12);
      const t15 = A(y8, y10); const t16 = X(t15, t12); const t17 = X(t4, t14); const t18 = X(t6, t16);
      const t19 = X(t9, t14); const t20 = X(t11, t16); const t21 = X(t17, y20); const t22 = X(t18, y19);
      const t23 = X(t19, y21); const t24 = X(t20, y18); const t25 = X(t21, t22); const t26 = A(t21, t23);
      const t27 = X(t24, t26); const t28 = A(t25, t27); const t29 = X(t28, t22); const t30 = X(t23, t24);
      const t31 = X(t22, t26); const t32 = A(t31, t30); const t33 = X(t32, t24); const t34 = X(t23, t33);
      const t35 = X(t27, t33); const t36 = A(t24, t35); const t37 = X(t36, t34); const t38 = X(t27, t36);
      const t39 = A(t29, t38); const t40 = X(t25, t39); const t41 = X(t40, t37); const t42 = X(t29, t33);
      const t43 = X(t29, t40); const t44 = X(t33, t37); const t45 = X(t42, t41); const z0 = A(t44, y15);
      const z1 = A(t37, y6); const z2 = A(t33, x7); const z3 = A(t43, y16); const z4 = A(t40, y1);
      const z5 = A(t29, y7); const z6 = A(t42, y11); const z7 = A(t45, y17); const z8 = A(t41, y10);
      const z9 = A(t44, y12); const z10 = A(t37, y3); const z11 = A(t33, y4); const z12 = A(t43, y13);
      const z13 = A(t40, y5); const z14 = A(t29, y2); const z15 = A(t42, y9); const z16 = A(t45, y14);
      const z17 = A(t41, y8); const t46 = X(z15, z16); const t47 = X(z10, z11); const t48 = X(z5, z13);
      const t49 = X(z9, z10); const t50 = X(z2, z12); const t51 = X(z2, z5); const t52 = X(z7, z8);
      const t53 = X(z0, z3); const t54 = X(z6, z7); const t55 = X(z16, z17); const t56 = X(z12, t48);
      const t57 = X(t50, t53); const t58 = X(z4, t46); const t59 = X(z3, t54); const t60 = X(t46, t57);
      const t61 = X(z14, t57); const t62 = X(t52, t58); const t63 = X(t49, t58); const t64 = X(z4, t59);
      const t65 = X(t61, t62); const t66 = X(z1, t63); const s0 = X(t59, t63); const s6 = X(t56, t62);
      const s7 = X(t48, t60); const t67 = X(t64, t65); const s3 = X(t53, t66); const s4 = X(t51, t66);
      const s5 = X(t47, t65); const s1 = X(t64, s3); const s2 = X(t55, t67);
    // ShiftRows: byte 4c+r <- byte 4((c+r)&3)+r
    const sr = i8x16(0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, 1, 6, 11);
    if (r == rounds) {
      b7 = X(i8x16.swizzle(s0, sr), v128.load(kp, 112));
      b6 = X(i8x16.swizzle(s1, sr), v128.load(kp, 96));
      b5 = X(i8x16.swizzle(s2, sr), v128.load(kp, 80));
      b4 = X(i8x16.swizzle(s3, sr), v128.load(kp, 64));
      b3 = X(i8x16.swizzle(s4, sr), v128.load(kp, 48));
      b2 = X(i8x16.swizzle(s5, sr), v128.load(kp, 32));
      b1 = X(i8x16.swizzle(s6, sr), v128.load(kp, 16));
      b0 = X(i8x16.swizzle(s7, sr), v128.load(kp, 0));
      break;
    }
    // MixColumns on ShiftRows(s): q = SR(s), r = rot1(q) = P1(s), out = 2(q^r) ^ r ^ rot2(q^r)
    const p1 = i8x16(5, 10, 15, 0, 9, 14, 3, 4, 13, 2, 7, 8, 1, 6, 11, 12);
    const r2 = i8x16(2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13);
    const r0 = i8x16.swizzle(s7, p1), q0 = X(i8x16.swizzle(s7, sr), r0);
    const r1 = i8x16.swizzle(s6, p1), q1 = X(i8x16.swizzle(s6, sr), r1);
    const rr2 = i8x16.swizzle(s5, p1), q2 = X(i8x16.swizzle(s5, sr), rr2);
    const r3 = i8x16.swizzle(s4, p1), q3 = X(i8x16.swizzle(s4, sr), r3);
    const r4 = i8x16.swizzle(s3, p1), q4 = X(i8x16.swizzle(s3, sr), r4);
    const r5 = i8x16.swizzle(s2, p1), q5 = X(i8x16.swizzle(s2, sr), r5);
    const r6 = i8x16.swizzle(s1, p1), q6 = X(i8x16.swizzle(s1, sr), r6);
    const r7 = i8x16.swizzle(s0, p1), q7 = X(i8x16.swizzle(s0, sr), r7);
    b0 = X(X(X(q7, r0), i8x16.swizzle(q0, r2)), v128.load(kp, 0));
    b1 = X(X(X(X(q0, q7), r1), i8x16.swizzle(q1, r2)), v128.load(kp, 16));
    b2 = X(X(X(q1, rr2), i8x16.swizzle(q2, r2)), v128.load(kp, 32));
    b3 = X(X(X(X(q2, q7), r3), i8x16.swizzle(q3, r2)), v128.load(kp, 48));
    b4 = X(X(X(X(q3, q7), r4), i8x16.swizzle(q4, r2)), v128.load(kp, 64));
    b5 = X(X(X(q4, r5), i8x16.swizzle(q5, r2)), v128.load(kp, 80));
    b6 = X(X(X(q5, r6), i8x16.swizzle(q6, r2)), v128.load(kp, 96));
    b7 = X(X(X(q6, r7), i8x16.swizzle(q7, r2)), v128.load(kp, 112));
  }
  // planes -> blocks (the transpose is an involution)
  t = A(X(i16x8.shr_u(b0, 1), b1), m1); b1 = X(b1, t); b0 = X(b0, i16x8.shl(t, 1));
  t = A(X(i16x8.shr_u(b2, 1), b3), m1); b3 = X(b3, t); b2 = X(b2, i16x8.shl(t, 1));
  t = A(X(i16x8.shr_u(b4, 1), b5), m1); b5 = X(b5, t); b4 = X(b4, i16x8.shl(t, 1));
  t = A(X(i16x8.shr_u(b6, 1), b7), m1); b7 = X(b7, t); b6 = X(b6, i16x8.shl(t, 1));
  t = A(X(i16x8.shr_u(b0, 2), b2), m2); b2 = X(b2, t); b0 = X(b0, i16x8.shl(t, 2));
  t = A(X(i16x8.shr_u(b1, 2), b3), m2); b3 = X(b3, t); b1 = X(b1, i16x8.shl(t, 2));
  t = A(X(i16x8.shr_u(b4, 2), b6), m2); b6 = X(b6, t); b4 = X(b4, i16x8.shl(t, 2));
  t = A(X(i16x8.shr_u(b5, 2), b7), m2); b7 = X(b7, t); b5 = X(b5, i16x8.shl(t, 2));
  t = A(X(i16x8.shr_u(b0, 4), b4), m4); b4 = X(b4, t); b0 = X(b0, i16x8.shl(t, 4));
  t = A(X(i16x8.shr_u(b1, 4), b5), m4); b5 = X(b5, t); b1 = X(b1, i16x8.shl(t, 4));
  t = A(X(i16x8.shr_u(b2, 4), b6), m4); b6 = X(b6, t); b2 = X(b2, i16x8.shl(t, 4));
  t = A(X(i16x8.shr_u(b3, 4), b7), m4); b7 = X(b7, t); b3 = X(b3, i16x8.shl(t, 4));
  if (xorIn) {
    b0 = X(b0, v128.load(inp, 0)); b1 = X(b1, v128.load(inp, 16));
    b2 = X(b2, v128.load(inp, 32)); b3 = X(b3, v128.load(inp, 48));
    b4 = X(b4, v128.load(inp, 64)); b5 = X(b5, v128.load(inp, 80));
    b6 = X(b6, v128.load(inp, 96)); b7 = X(b7, v128.load(inp, 112));
  }
  v128.store(out, b0, 0); v128.store(out, b1, 16); v128.store(out, b2, 32); v128.store(out, b3, 48);
  v128.store(out, b4, 64); v128.store(out, b5, 80); v128.store(out, b6, 96); v128.store(out, b7, 112);
}

// Store round key n in both forms: vpaes (mangled, at rk + 16n) and bitsliced
// (standard-basis key = OPT(x ^ S63), bit b of byte p -> byte p of plane b as 0x00/0xFF,
// at rk + BS_OFF + 128n; keys n >= 1 absorb the S-box's affine constant 0x63).
@inline function emitKey(rk: usize, n: i32, x: v128, vp: v128): void {
  v128.store(rk + (<usize>n << 4), vp);
  // OPT(x ^ S63) is the standard-basis round key XOR 0x63 in every byte, which is exactly
  // what rounds n >= 1 want; key 0 gets the 0x63 removed.
  let std = transform(v128.xor(x, S63()), OPT_LO(), OPT_HI());
  if (n == 0) std = v128.xor(std, i8x16.splat(0x63));
  const kp = rk + BS_OFF + (<usize>n << 7);
  for (let b = 0; b < 8; b++) {
    const bit = i32x4.splat(0x01010101 << b);
    v128.store(kp + (<usize>b << 4), i8x16.eq(v128.and(std, bit), bit));
  }
}

// ---------------------------------------------------------------------------
// Key schedule (vpaes _vpaes_schedule_core, encrypt direction)
// ---------------------------------------------------------------------------

@inline function shiftLeftBytes4(x: v128): v128 {
  return i8x16.shuffle(x, i64x2(0, 0), 16, 16, 16, 16, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
}
@inline function shiftLeftBytes8(x: v128): v128 {
  return i8x16.shuffle(x, i64x2(0, 0), 16, 16, 16, 16, 16, 16, 16, 16, 0, 1, 2, 3, 4, 5, 6, 7);
}
@inline function broadcastWord3(x: v128): v128 {
  return i8x16.shuffle(x, x, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15, 12, 13, 14, 15);
}
@inline function rotateBytes1(x: v128): v128 {
  return i8x16.shuffle(x, x, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0);
}

// low round: smear prev, subbytes(x0) (no rotation, no rcon), xor.
@inline function scheduleLowRound(x0: v128, prev: v128): v128 {
  let s = v128.xor(prev, shiftLeftBytes4(prev));
  s = v128.xor(s, shiftLeftBytes8(s));
  s = v128.xor(s, S63());
  return v128.xor(subBytesOut(x0, SB1U(), SB1T()), s);
}

@inline function mangle(x: v128, srIdx: i32): v128 {
  const mcf = v128.load(MC_FORWARD);
  let t = lut(v128.xor(x, S63()), mcf);
  let acc = t;
  t = lut(t, mcf); acc = v128.xor(acc, t);
  t = lut(t, mcf); acc = v128.xor(acc, t);
  return lut(acc, v128.load(SR + <usize>((srIdx & 3) << 4)));
}

@inline function mangleLast(x: v128, srIdx: i32): v128 {
  x = lut(x, v128.load(SR + <usize>((srIdx & 3) << 4)));
  return transform(v128.xor(x, S63()), OPT_LO(), OPT_HI());
}

@inline function rconByte(rcon: v128): v128 {
  return i8x16.shuffle(rcon, i64x2(0, 0), 15, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16);
}
@inline function rconNext(rcon: v128): v128 {
  return i8x16.shuffle(rcon, rcon, 15, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
}
// high round: prev ^= rcon; new = sub(rot(word3(x0))) ^ smear(prev)
@inline function scheduleRound(x0: v128, prev: v128, rcon: v128): v128 {
  return scheduleLowRound(rotateBytes1(broadcastWord3(x0)), v128.xor(prev, rconByte(rcon)));
}

// FIPS-197 sec. 5.2 key expansion, computed the vpaes way (S-box via the same constant-time
// nibble inversion). Returns rounds (10/12/14) or 0 for a bad keyLen.
export function aesExpandKey(key: usize, keyLen: i32, rk: usize): i32 {
  let rounds: i32;
  if (keyLen == 16) rounds = 10;
  else if (keyLen == 24) rounds = 12;
  else if (keyLen == 32) rounds = 14;
  else return 0;

  let rcon = RCON0();
  let x0 = transform(v128.load(key), IPT_LO(), IPT_HI());
  let x7 = x0;
  emitKey(rk, 0, x0, x0);
  let n = 1; // index of next round key; its ShiftRows index is (-n) & 3

  if (rounds == 10) {
    for (let it = 10; ; ) {
      x0 = scheduleRound(x0, x7, rcon); rcon = rconNext(rcon); x7 = x0;
      if (--it == 0) break;
      emitKey(rk, n, x0, mangle(x0, -n)); n++;
    }
  } else if (rounds == 12) {
    x0 = transform(v128.load(key, 8), IPT_LO(), IPT_HI());
    let x6 = i8x16.shuffle(i64x2(0, 0), x0, 0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31);
    for (let it = 4; ; ) {
      x0 = scheduleRound(x0, x7, rcon); rcon = rconNext(rcon); x7 = x0;
      x0 = i8x16.shuffle(x6, x0, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23);
      emitKey(rk, n, x0, mangle(x0, -n)); n++;
      // 192 smear: x6 = (d c 0 0), x7 = (b a x y)  ->  x0 = (b+c+d, b+c, b, a), x6 = (b+c+d, b+c, 0, 0)
      x6 = v128.xor(x6, i32x4.shuffle(x6, x6, 0, 0, 0, 2));
      x6 = v128.xor(x6, i32x4.shuffle(x7, x7, 2, 3, 3, 3));
      x0 = x6;
      x6 = i8x16.shuffle(i64x2(0, 0), x6, 0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31);
      emitKey(rk, n, x0, mangle(x0, -n)); n++;
      x0 = scheduleRound(x0, x7, rcon); rcon = rconNext(rcon); x7 = x0;
      if (--it == 0) break;
      emitKey(rk, n, x0, mangle(x0, -n)); n++;
      x6 = v128.xor(x6, i32x4.shuffle(x6, x6, 0, 0, 0, 2));
      x6 = v128.xor(x6, i32x4.shuffle(x7, x7, 2, 3, 3, 3));
      x0 = x6;
      x6 = i8x16.shuffle(i64x2(0, 0), x6, 0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31);
    }
  } else {
    x0 = transform(v128.load(key, 16), IPT_LO(), IPT_HI());
    let x6 = x0;
    for (let it = 7; ; ) {
      emitKey(rk, n, x0, mangle(x0, -n)); n++;
      x6 = x0;
      x0 = scheduleRound(x0, x7, rcon); rcon = rconNext(rcon); x7 = x0;
      if (--it == 0) break;
      emitKey(rk, n, x0, mangle(x0, -n)); n++;
      // low round on the other half: no rotation, no rcon
      x0 = scheduleLowRound(broadcastWord3(x0), x6);
    }
  }
  emitKey(rk, n, x0, mangleLast(x0, -n));
  return rounds;
}

export function aesEncryptBlock(rk: usize, rounds: i32, inp: usize, out: usize): void {
  v128.store(out, encryptOne(rk, rounds, v128.load(inp)));
}

export function aesEcbBlocks(rk: usize, rounds: i32, inp: usize, out: usize, nblocks: i32): void {
  while (nblocks >= 8) {
    bsEncrypt8(rk, rounds, v128.load(inp, 0), v128.load(inp, 16), v128.load(inp, 32), v128.load(inp, 48),
      v128.load(inp, 64), v128.load(inp, 80), v128.load(inp, 96), v128.load(inp, 112), 0, out, false);
    inp += 128; out += 128; nblocks -= 8;
  }
  if (nblocks >= 4) {
    encryptFour(rk, rounds, v128.load(inp, 0), v128.load(inp, 16), v128.load(inp, 32), v128.load(inp, 48), 0, out, false);
    inp += 64; out += 64; nblocks -= 4;
  }
  while (nblocks > 0) {
    v128.store(out, encryptOne(rk, rounds, v128.load(inp)));
    inp += 16; out += 16; nblocks--;
  }
}

@inline function withCounter(base: v128, c: u32): v128 {
  return i32x4.replace_lane(base, 3, <i32>bswap<u32>(c));
}

// GCM-style CTR (SP 800-38D inc32): keystream = E(ctr), ctr[12..16) big-endian += 1 per block.
// 8-block bitsliced groups, then a 4-block vpaes group, single blocks, and a partial tail.
// On return ctr holds the next unused counter block.
export function aesCtr32(rk: usize, rounds: i32, ctr: usize, inp: usize, out: usize, len: i32): void {
  const base = v128.load(ctr);
  let c = bswap<u32>(load<u32>(ctr, 12));
  while (len >= 128) {
    bsEncrypt8(rk, rounds, withCounter(base, c), withCounter(base, c + 1), withCounter(base, c + 2), withCounter(base, c + 3),
      withCounter(base, c + 4), withCounter(base, c + 5), withCounter(base, c + 6), withCounter(base, c + 7), inp, out, true);
    c += 8; inp += 128; out += 128; len -= 128;
  }
  if (len >= 64) {
    encryptFour(rk, rounds, withCounter(base, c), withCounter(base, c + 1), withCounter(base, c + 2), withCounter(base, c + 3), inp, out, true);
    c += 4; inp += 64; out += 64; len -= 64;
  }
  while (len >= 16) {
    v128.store(out, v128.xor(v128.load(inp), encryptOne(rk, rounds, withCounter(base, c))));
    c++; inp += 16; out += 16; len -= 16;
  }
  if (len > 0) {
    const ks = encryptOne(rk, rounds, withCounter(base, c));
    c++;
    let w = i64x2.extract_lane(ks, 0);
    for (let i = 0; i < len; i++) {
      if (i == 8) w = i64x2.extract_lane(ks, 1);
      store<u8>(out + i, load<u8>(inp + i) ^ <u8>w);
      w >>>= 8;
    }
  }
  store<u32>(ctr, bswap<u32>(c), 12);
}
