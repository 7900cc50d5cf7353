// ChaCha20-Poly1305 against node:crypto (OpenSSL) and against itself:
//  - 10,000 random cases in one run (plaintext 0–2048 bytes, AAD 0–64 bytes), one-shot seal
//    and open checked against createCipheriv/createDecipheriv('chacha20-poly1305');
//  - the same cases as batches agree with the one-shot results;
//  - raw ChaCha20 (the 4-block SIMD path and its scalar/4-block tails) against node's chacha20
//    at every length 0–1100 and at counters near 2^32;
//  - a single flipped bit of ciphertext, tag or AAD is rejected, and nothing is released;
//  - destroy() zeroes the key in wasm memory.
import { createCipheriv, createDecipheriv } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createChaCha20Poly1305, IpsecError } from "../src/index.js";
import { newCore } from "../src/core/wasm.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";
import { toHex } from "./helpers/wycheproof.js";

const SEED = seedFromEnv(0x7634);
const KEYS = 500;
const PER_KEY = 20;

interface Case {
  nonce: Uint8Array;
  pt: Uint8Array;
  aad: Uint8Array;
}

function opensslSeal(key: Uint8Array, c: Case): string {
  const e = createCipheriv("chacha20-poly1305", key, c.nonce, { authTagLength: 16 });
  e.setAAD(c.aad, { plaintextLength: c.pt.length });
  const ct = Buffer.concat([e.update(c.pt), e.final()]);
  return toHex(ct) + toHex(e.getAuthTag());
}

function opensslOpen(key: Uint8Array, c: Case, sealed: Uint8Array): string {
  const d = createDecipheriv("chacha20-poly1305", key, c.nonce, { authTagLength: 16 });
  d.setAAD(c.aad, { plaintextLength: sealed.length - 16 });
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return toHex(Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]));
}

const code = (c: string) => expect.objectContaining({ code: c });
/** Byte equality without vitest's element-by-element deep equality (slow on 10,000 cases). */
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);

describe(`ChaCha20-Poly1305 vs node:crypto, ${KEYS * PER_KEY} random cases (seed ${SEED})`, () => {
  it("one-shot seal/open agree with OpenSSL; batches agree with one-shot", async () => {
    const rng = new Prng(SEED);
    let cases = 0;
    let long = 0;
    for (let k = 0; k < KEYS; k++) {
      const key = rng.bytes(32);
      const c = await createChaCha20Poly1305(key);
      const list: Case[] = [];
      for (let j = 0; j < PER_KEY; j++) {
        list.push({ nonce: rng.bytes(12), pt: rng.bytes(rng.int(0, 2048)), aad: rng.bytes(rng.int(0, 64)) });
      }
      const sealed = list.map((cs) => {
        const s = c.seal(cs.nonce, cs.pt, cs.aad);
        expect(toHex(s), `key ${k} len ${cs.pt.length} aad ${cs.aad.length}`).toBe(opensslSeal(key, cs));
        expect(same(c.open(cs.nonce, s, cs.aad), cs.pt)).toBe(true);
        expect(opensslOpen(key, cs, s)).toBe(toHex(cs.pt));
        if (cs.pt.length > 192) long++;
        cases++;
        return s;
      });
      // The same cases as one batch each way (out of place, so inputs survive).
      const sb = c.createBatch({ packets: PER_KEY, bytes: PER_KEY * 2 * 2200, inPlace: false });
      list.forEach((cs) => sb.add(cs.nonce, cs.pt, cs.aad));
      expect(c.sealBatch(sb)).toBe(PER_KEY);
      list.forEach((_, i) => expect(same(sb.output(i), sealed[i]), `batch seal ${i}`).toBe(true));
      sb.destroy();
      const ob = c.createBatch({ packets: PER_KEY, bytes: PER_KEY * 2200 });
      list.forEach((cs, i) => ob.add(cs.nonce, sealed[i], cs.aad));
      expect(c.openBatch(ob)).toBe(PER_KEY);
      list.forEach((cs, i) => expect(same(ob.output(i), cs.pt), `batch open ${i}`).toBe(true));
      ob.destroy();
      c.destroy();
    }
    expect(cases).toBe(10_000);
    expect(long).toBeGreaterThan(8000);
  });

  it("raw ChaCha20: every length 0–1100, counters 0–3 and near 2^32, matches node's chacha20", async () => {
    const core = await newCore();
    const x = core.x as unknown as {
      chacha20Xor(key: number, nonce: number, ctr: number, src: number, dst: number, len: number): void;
    };
    const rng = new Prng(SEED ^ 0x2024);
    const p = core.alloc(4096);
    for (let len = 0; len <= 1100; len++) {
      const key = rng.bytes(32);
      const nonce = rng.bytes(12);
      const msg = rng.bytes(len);
      // RFC 8439's counter is 32 bits; node's chacha20 carries into the nonce, so stay
      // where both agree: the last block used has counter ≤ 2^32 − 1.
      const ctr = len % 5 === 0 ? 0xffffffff - Math.ceil(len / 64) : len & 3;
      const u8 = core.u8;
      u8.set(key, p);
      u8.set(nonce, p + 32);
      u8.set(msg, p + 64);
      x.chacha20Xor(p, p + 32, ctr, p + 64, p + 64, len);
      const iv = Buffer.alloc(16);
      iv.writeUInt32LE(ctr >>> 0, 0);
      iv.set(nonce, 4);
      const ref = createCipheriv("chacha20", key, iv).update(msg);
      expect(toHex(core.u8.slice(p + 64, p + 64 + len)), `len ${len} ctr ${ctr}`).toBe(toHex(ref));
    }
    core.free(p, 4096);
  });
});

describe("ChaCha20-Poly1305 tamper, errors and destroy", () => {
  it("one flipped bit of ciphertext, tag or AAD is ERR_AUTH, one-shot and batch", async () => {
    const rng = new Prng(SEED ^ 0xbad);
    const c = await createChaCha20Poly1305(rng.bytes(32));
    let flips = 0;
    for (const len of [0, 1, 15, 16, 63, 64, 191, 192, 193, 255, 256, 257, 1420]) {
      const nonce = rng.bytes(12);
      const aad = rng.bytes(8);
      const sealed = c.seal(nonce, rng.bytes(len), aad);
      const bits = [...Array.from({ length: Math.min(len * 8, 64) }, (_, i) => (i * 37) % (len * 8)), ...Array.from({ length: 128 }, (_, i) => len * 8 + i)];
      const b = c.createBatch({ packets: bits.length + 64, bytes: (bits.length + 64) * (len + 96) });
      for (const bit of bits) {
        const bad = sealed.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        expect(() => c.open(nonce, bad, aad)).toThrow(code("ERR_AUTH"));
        b.add(nonce, bad, aad);
        flips++;
      }
      for (let bit = 0; bit < 64; bit++) {
        const badAad = aad.slice();
        badAad[bit >> 3] ^= 1 << (bit & 7);
        expect(() => c.open(nonce, sealed, badAad)).toThrow(code("ERR_AUTH"));
        b.add(nonce, sealed, badAad);
        flips++;
      }
      const before = b.input(0).slice();
      expect(c.openBatch(b)).toBe(0);
      for (let i = 0; i < b.length; i++) expect(b.error(i)?.code).toBe("ERR_AUTH");
      expect(() => b.output(0)).toThrow(code("ERR_AUTH"));
      // Nothing decrypted in place on failure: the input bytes are untouched.
      expect(b.input(0)).toEqual(before);
      b.destroy();
      expect(() => c.open(nonce, sealed.subarray(0, 15), aad)).toThrow(code("ERR_AUTH"));
    }
    expect(flips).toBeGreaterThan(2000);
    c.destroy();
  });

  it("argument errors: key length, nonce length, types", async () => {
    for (const n of [0, 16, 31, 33, 64]) {
      await expect(createChaCha20Poly1305(new Uint8Array(n))).rejects.toThrow(code("ERR_KEY_LENGTH"));
    }
    await expect(createChaCha20Poly1305("k" as unknown as Uint8Array)).rejects.toThrow(code("ERR_INPUT_TYPE"));
    const c = await createChaCha20Poly1305(new Uint8Array(32).fill(0x5a));
    for (const n of [0, 8, 11, 13, 16, 24]) {
      expect(() => c.seal(new Uint8Array(n), new Uint8Array(4))).toThrow(code("ERR_NONCE_LENGTH"));
      expect(() => c.open(new Uint8Array(n), new Uint8Array(20))).toThrow(code("ERR_NONCE_LENGTH"));
    }
    try {
      c.open(new Uint8Array(12), new Uint8Array(32));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(IpsecError);
      expect(String((e as Error).message)).not.toContain("5a5a");
    }
    c.destroy();
  });

  it("destroy() zeroes the key in wasm memory; use after it is ERR_DESTROYED", async () => {
    const core = await newCore();
    const c = await createChaCha20Poly1305(new Uint8Array(32).fill(0xa7), { core });
    const ctx = (c as unknown as { ctx: number }).ctx;
    const bytes = (c as unknown as { ctxBytes: number }).ctxBytes;
    expect(bytes).toBe(32);
    const region = () => core.u8.slice(ctx, ctx + bytes);
    expect(region().every((b) => b === 0xa7)).toBe(true);
    c.destroy();
    expect(region().every((b) => b === 0)).toBe(true);
    expect(() => c.seal(new Uint8Array(12), new Uint8Array(1))).toThrow(code("ERR_DESTROYED"));
    expect(() => c.createBatch()).toThrow(code("ERR_DESTROYED"));
    c.destroy(); // idempotent
  });

  it("one-shot calls leave no key, keystream or plaintext in wasm memory", async () => {
    const core = await newCore();
    const key = new Uint8Array(32).fill(0x3c);
    const c = await createChaCha20Poly1305(key, { core });
    const pt = new Uint8Array(1500).fill(0xe1);
    const nonce = new Uint8Array(12).fill(9);
    const sealed = c.seal(nonce, pt, new Uint8Array(8));
    c.open(nonce, sealed, new Uint8Array(8));
    const ctx = (c as unknown as { ctx: number }).ctx;
    const mem = core.u8;
    // The only copy of the key is the context; no run of 16 plaintext bytes and no 16-byte
    // run of keystream (ciphertext xor plaintext) survives anywhere in memory.
    const ks = sealed.subarray(0, 16).map((b, i) => b ^ pt[i]);
    const find = (needle: Uint8Array) => {
      const hits: number[] = [];
      outer: for (let i = 0; i + needle.length <= mem.length; i++) {
        if (mem[i] !== needle[0]) continue;
        for (let j = 1; j < needle.length; j++) if (mem[i + j] !== needle[j]) continue outer;
        hits.push(i);
      }
      return hits;
    };
    expect(find(key)).toEqual([ctx]);
    expect(find(pt.subarray(0, 16))).toEqual([]);
    expect(find(ks)).toEqual([]);
    c.destroy();
  });
});
