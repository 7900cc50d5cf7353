// Flipping any single bit of the ciphertext, the tag or the AAD of sample packets makes
// open fail with ERR_AUTH and release nothing, on both engines, one-shot and batched.
import { describe, expect, it } from "vitest";
import { createAesGcm, type GcmEngine } from "../src/index.js";
import { Prng } from "./helpers/prng.js";

const rng = new Prng(4303);
const samples = [0, 1, 15, 16, 17, 64, 101].map((len) => ({
  nonce: rng.bytes(12),
  pt: rng.bytes(len),
  aad: rng.bytes(len === 0 ? 8 : 12), // ESP AAD: SPI ‖ seq, or SPI ‖ seq-hi ‖ seq-lo
}));

describe.each<GcmEngine>(["wasm", "node"])("tamper, engine %s", (engine) => {
  it.each([8, 12, 16])("every single-bit flip of ciphertext, tag and AAD is rejected (tag %i)", async (tagLen) => {
    const gcm = await createAesGcm(rng.bytes(16), { engine });
    let flips = 0;
    for (const s of samples) {
      const sealed = gcm.seal(s.nonce, s.pt, s.aad, tagLen);
      expect(sealed.length).toBe(s.pt.length + tagLen);
      const variants: { data: Uint8Array; aad: Uint8Array }[] = [];
      for (let bit = 0; bit < sealed.length * 8; bit++) {
        const d = sealed.slice();
        d[bit >> 3] ^= 1 << (bit & 7);
        variants.push({ data: d, aad: s.aad });
      }
      for (let bit = 0; bit < s.aad.length * 8; bit++) {
        const a = s.aad.slice();
        a[bit >> 3] ^= 1 << (bit & 7);
        variants.push({ data: sealed, aad: a });
      }
      // One-shot: each must throw ERR_AUTH.
      for (const v of variants) {
        expect(() => gcm.open(s.nonce, v.data, v.aad, tagLen)).toThrow(expect.objectContaining({ code: "ERR_AUTH" }));
      }
      // Batched: all variants plus the genuine packet last.
      const b = gcm.createBatch({ packets: variants.length + 1, bytes: (variants.length + 1) * 256 });
      for (const v of variants) b.add(s.nonce, v.data, v.aad);
      b.add(s.nonce, sealed, s.aad);
      expect(gcm.openBatch(b, tagLen)).toBe(1);
      for (let i = 0; i < variants.length; i++) {
        expect(b.error(i)?.code).toBe("ERR_AUTH");
        expect(() => b.output(i)).toThrow(expect.objectContaining({ code: "ERR_AUTH" }));
        // Nothing was decrypted in place: the input is still the ciphertext.
        expect(Buffer.compare(b.input(i), variants[i].data)).toBe(0);
      }
      expect(Buffer.compare(b.output(variants.length), s.pt)).toBe(0);
      b.destroy();
      flips += variants.length;
    }
    expect(flips).toBe(samples.reduce((n, s) => n + (s.pt.length + tagLen + s.aad.length) * 8, 0));
    gcm.destroy();
  });

  it("a wrong nonce, a truncated tag and input shorter than the tag are rejected", async () => {
    const gcm = await createAesGcm(rng.bytes(32), { engine });
    const s = samples[5];
    const sealed = gcm.seal(s.nonce, s.pt, s.aad);
    const n2 = s.nonce.slice();
    n2[11] ^= 0x80;
    expect(() => gcm.open(n2, sealed, s.aad)).toThrow(expect.objectContaining({ code: "ERR_AUTH" }));
    expect(() => gcm.open(s.nonce, sealed.subarray(0, sealed.length - 1), s.aad)).toThrow(expect.objectContaining({ code: "ERR_AUTH" }));
    expect(() => gcm.open(s.nonce, sealed.subarray(0, 15), s.aad)).toThrow(expect.objectContaining({ code: "ERR_AUTH" }));
    expect(() => gcm.open(s.nonce, new Uint8Array(0), s.aad)).toThrow(expect.objectContaining({ code: "ERR_AUTH" }));
    // Sealed with a 16-byte tag, opened as if the tag were 12 bytes: rejected.
    expect(() => gcm.open(s.nonce, sealed, s.aad, 12)).toThrow(expect.objectContaining({ code: "ERR_AUTH" }));
    gcm.destroy();
  });
});
