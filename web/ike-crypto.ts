/**
 * A synchronous IKE crypto provider for the page's worker. The decode core opens IKEv2 SK
 * payloads synchronously (src/ike runSync); in Node that is node:crypto, in a browser there is
 * no synchronous WebCrypto, so: HMAC-SHA-1/-256/-384/-512 (RFC 2104, FIPS 180-4) here,
 * AES-CBC, AES-GCM and ChaCha20-Poly1305 from @noble/ciphers. Only for display decryption of
 * captured IKE messages; keys come from the user's ikev2_decryption_table.
 */
import { cbc, ctr, gcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { setIkeCrypto, type IkeCryptoSync, type IkeHash } from "../src/ike/crypto.js";

// ---- SHA-1 and SHA-256 (32-bit words) ----

const K256 = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** Message padded to whole blocks with the bit length at the end (lenBytes: 8 or 16). */
function pad(data: Uint8Array, block: number, lenBytes: number): Uint8Array {
  const n = Math.ceil((data.length + 1 + lenBytes) / block) * block;
  const m = new Uint8Array(n);
  m.set(data);
  m[data.length] = 0x80;
  const bits = data.length * 8;
  const dv = new DataView(m.buffer);
  dv.setUint32(n - 8, Math.floor(bits / 0x100000000));
  dv.setUint32(n - 4, bits >>> 0);
  return m;
}

const rotr = (x: number, n: number) => (x >>> n) | (x << (32 - n));
const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));

function sha256(data: Uint8Array): Uint8Array {
  const m = pad(data, 64, 8);
  const dv = new DataView(m.buffer);
  const h = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
  const w = new Uint32Array(64);
  for (let o = 0; o < m.length; o += 64) {
    for (let i = 0; i < 16; i++) w[i] = dv.getUint32(o + 4 * i);
    for (let i = 16; i < 64; i++) {
      const s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >>> 3);
      const s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >>> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const t1 = (hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  return words32(h);
}

function sha1(data: Uint8Array): Uint8Array {
  const m = pad(data, 64, 8);
  const dv = new DataView(m.buffer);
  const h = new Uint32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0]);
  const w = new Uint32Array(80);
  for (let o = 0; o < m.length; o += 64) {
    for (let i = 0; i < 16; i++) w[i] = dv.getUint32(o + 4 * i);
    for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    let [a, b, c, d, e] = h;
    for (let i = 0; i < 80; i++) {
      const f = i < 20 ? (b & c) | (~b & d) : i < 40 ? b ^ c ^ d : i < 60 ? (b & c) | (b & d) | (c & d) : b ^ c ^ d;
      const k = i < 20 ? 0x5a827999 : i < 40 ? 0x6ed9eba1 : i < 60 ? 0x8f1bbcdc : 0xca62c1d6;
      const t = (rotl(a, 5) + f + e + k + w[i]) | 0;
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
  }
  return words32(h);
}

function words32(h: Uint32Array): Uint8Array {
  const out = new Uint8Array(h.length * 4);
  const dv = new DataView(out.buffer);
  h.forEach((x, i) => dv.setUint32(4 * i, x));
  return out;
}

// ---- SHA-384 and SHA-512 (BigInt words: IKE hashes little, so simplicity over speed) ----

const K512 = [
  "428a2f98d728ae22", "7137449123ef65cd", "b5c0fbcfec4d3b2f", "e9b5dba58189dbbc", "3956c25bf348b538", "59f111f1b605d019", "923f82a4af194f9b", "ab1c5ed5da6d8118",
  "d807aa98a3030242", "12835b0145706fbe", "243185be4ee4b28c", "550c7dc3d5ffb4e2", "72be5d74f27b896f", "80deb1fe3b1696b1", "9bdc06a725c71235", "c19bf174cf692694",
  "e49b69c19ef14ad2", "efbe4786384f25e3", "0fc19dc68b8cd5b5", "240ca1cc77ac9c65", "2de92c6f592b0275", "4a7484aa6ea6e483", "5cb0a9dcbd41fbd4", "76f988da831153b5",
  "983e5152ee66dfab", "a831c66d2db43210", "b00327c898fb213f", "bf597fc7beef0ee4", "c6e00bf33da88fc2", "d5a79147930aa725", "06ca6351e003826f", "142929670a0e6e70",
  "27b70a8546d22ffc", "2e1b21385c26c926", "4d2c6dfc5ac42aed", "53380d139d95b3df", "650a73548baf63de", "766a0abb3c77b2a8", "81c2c92e47edaee6", "92722c851482353b",
  "a2bfe8a14cf10364", "a81a664bbc423001", "c24b8b70d0f89791", "c76c51a30654be30", "d192e819d6ef5218", "d69906245565a910", "f40e35855771202a", "106aa07032bbd1b8",
  "19a4c116b8d2d0c8", "1e376c085141ab53", "2748774cdf8eeb99", "34b0bcb5e19b48a8", "391c0cb3c5c95a63", "4ed8aa4ae3418acb", "5b9cca4f7763e373", "682e6ff3d6b2b8a3",
  "748f82ee5defb2fc", "78a5636f43172f60", "84c87814a1f0ab72", "8cc702081a6439ec", "90befffa23631e28", "a4506cebde82bde9", "bef9a3f7b2c67915", "c67178f2e372532b",
  "ca273eceea26619c", "d186b8c721c0c207", "eada7dd6cde0eb1e", "f57d4f7fee6ed178", "06f067aa72176fba", "0a637dc5a2c898a6", "113f9804bef90dae", "1b710b35131c471b",
  "28db77f523047d84", "32caab7b40c72493", "3c9ebe0a15c9bebc", "431d67c49c100d4c", "4cc5d4becb3e42b6", "597f299cfc657e2a", "5fcb6fab3ad6faec", "6c44198c4a475817",
].map((x) => BigInt("0x" + x));
const IV512 = ["6a09e667f3bcc908", "bb67ae8584caa73b", "3c6ef372fe94f82b", "a54ff53a5f1d36f1", "510e527fade682d1", "9b05688c2b3e6c1f", "1f83d9abfb41bd6b", "5be0cd19137e2179"];
const IV384 = ["cbbb9d5dc1059ed8", "629a292a367cd507", "9159015a3070dd17", "152fecd8f70e5939", "67332667ffc00b31", "8eb44a8768581511", "db0c2e0d64f98fa7", "47b5481dbefa4fa4"];
const M64 = (1n << 64n) - 1n;
const rotr64 = (x: bigint, n: bigint) => ((x >> n) | (x << (64n - n))) & M64;

function sha512(data: Uint8Array, iv: string[], outLen: number): Uint8Array {
  const m = pad(data, 128, 16);
  const dv = new DataView(m.buffer);
  const h = iv.map((x) => BigInt("0x" + x));
  const w: bigint[] = new Array(80);
  for (let o = 0; o < m.length; o += 128) {
    for (let i = 0; i < 16; i++) w[i] = dv.getBigUint64(o + 8 * i);
    for (let i = 16; i < 80; i++) {
      const s0 = rotr64(w[i - 15], 1n) ^ rotr64(w[i - 15], 8n) ^ (w[i - 15] >> 7n);
      const s1 = rotr64(w[i - 2], 19n) ^ rotr64(w[i - 2], 61n) ^ (w[i - 2] >> 6n);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & M64;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 80; i++) {
      const t1 = (hh + (rotr64(e, 14n) ^ rotr64(e, 18n) ^ rotr64(e, 41n)) + ((e & f) ^ (~e & M64 & g)) + K512[i] + w[i]) & M64;
      const t2 = ((rotr64(a, 28n) ^ rotr64(a, 34n) ^ rotr64(a, 39n)) + ((a & b) ^ (a & c) ^ (b & c))) & M64;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) & M64;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) & M64;
    }
    [a, b, c, d, e, f, g, hh].forEach((x, i) => (h[i] = (h[i] + x) & M64));
  }
  const out = new Uint8Array(64);
  const odv = new DataView(out.buffer);
  h.forEach((x, i) => odv.setBigUint64(8 * i, x));
  return out.subarray(0, outLen);
}

const HASHES: Record<IkeHash, { fn: (d: Uint8Array) => Uint8Array; block: number }> = {
  sha1: { fn: sha1, block: 64 },
  sha256: { fn: sha256, block: 64 },
  sha384: { fn: (d) => sha512(d, IV384, 48), block: 128 },
  sha512: { fn: (d) => sha512(d, IV512, 64), block: 128 },
};

export function hash(alg: IkeHash, data: Uint8Array): Uint8Array {
  return HASHES[alg].fn(data);
}

/** RFC 2104 HMAC. */
export function hmac(alg: IkeHash, key: Uint8Array, data: Uint8Array): Uint8Array {
  const { fn, block } = HASHES[alg];
  const k = new Uint8Array(block);
  k.set(key.length > block ? fn(key) : key);
  const inner = new Uint8Array(block + data.length);
  for (let i = 0; i < block; i++) inner[i] = k[i] ^ 0x36;
  inner.set(data, block);
  const ih = fn(inner);
  const outer = new Uint8Array(block + ih.length);
  for (let i = 0; i < block; i++) outer[i] = k[i] ^ 0x5c;
  outer.set(ih, block);
  return fn(outer);
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export const syncIkeCrypto: IkeCryptoSync = {
  hmac,
  aesCbc(encrypt, key, iv, data) {
    const c = cbc(key, iv, { disablePadding: true });
    return encrypt ? c.encrypt(data) : c.decrypt(data);
  },
  aeadSeal(alg, key, nonce, aad, plaintext, tagLength) {
    const sealed = alg === "aes-gcm" ? gcm(key, nonce, aad).encrypt(plaintext) : chacha20poly1305(key, nonce, aad).encrypt(plaintext);
    return sealed.subarray(0, plaintext.length + tagLength);
  },
  aeadOpen(alg, key, nonce, aad, sealed, tagLength) {
    if (sealed.length < tagLength) return null;
    const ct = sealed.subarray(0, sealed.length - tagLength);
    const tag = sealed.subarray(sealed.length - tagLength);
    if (alg === "chacha20-poly1305") {
      try {
        return chacha20poly1305(key, nonce, aad).decrypt(sealed);
      } catch {
        return null;
      }
    }
    // AES-GCM with an 8-, 12- or 16-byte ICV (RFC 5282): decrypt in CTR mode from J0+1
    // (12-byte nonce, NIST SP 800-38D §7.2), then recompute the tag and compare its prefix.
    const j = new Uint8Array(16);
    j.set(nonce);
    j[15] = 2;
    const pt = ctr(key, j).decrypt(ct);
    const full = gcm(key, nonce, aad).encrypt(pt);
    return equal(full.subarray(ct.length, ct.length + tagLength), tag) ? pt : null;
  },
};

/** Make the decode core's IKE codec use this provider (the page has no node:crypto). */
export function installSyncIkeCrypto(): void {
  setIkeCrypto(syncIkeCrypto);
}
