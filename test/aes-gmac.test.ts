// AES-GMAC (NIST SP 800-38D with an empty plaintext; RFC 4543 in ESP):
//  1. Wycheproof aes_gmac_test.json through createAesGmac: 96-bit IVs give the exact tag
//     (valid) or verify() false (invalid, modified tags); 128-bit IVs are refused with
//     ERR_NONCE_LENGTH (only 96-bit IVs: RFC 4543 §3.2 nonce = salt ‖ 8-byte IV).
//  2. Differential against node:crypto aes-*-gcm with an empty plaintext, random inputs.
//  3. ESP with ENCR_NULL_AUTH_AES_GMAC: the ESP test shapes of test/esp.test.ts
//     (test/helpers/esp-suite.ts) against the independent node:crypto ESP, payload in clear.
import { createCipheriv } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createAesGmac, GMAC_IV_LENGTH, GMAC_TAG_LENGTH } from "../src/aes-gmac.js";
import { createEsp } from "../src/esp.js";
import { espAlgorithmSuite } from "./helpers/esp-suite.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";
import { hex, toHex } from "./helpers/wycheproof.js";
import { readFileSync } from "node:fs";

interface GmacTest { tcId: number; key: string; iv: string; msg: string; tag: string; result: "valid" | "invalid" }
interface GmacGroup { ivSize: number; keySize: number; tagSize: number; tests: GmacTest[] }
const file = JSON.parse(readFileSync(new URL("./vectors/wycheproof/aes_gmac_test.json", import.meta.url), "utf8")) as {
  numberOfTests: number;
  testGroups: GmacGroup[];
};
const all = file.testGroups.flatMap((g) => g.tests.map((t) => ({ ...t, ivSize: g.ivSize, tagSize: g.tagSize })));
const code = (c: string) => expect.objectContaining({ code: c });

describe("Wycheproof AES-GMAC (aes_gmac_test.json)", () => {
  it("covers the whole file: 414 tests, 207 with 96-bit IVs, 128-bit tags only", () => {
    expect(all.length).toBe(file.numberOfTests);
    expect(all.length).toBe(414);
    expect(all.filter((t) => t.ivSize === 96).length).toBe(207);
    expect(all.every((t) => t.tagSize === 128)).toBe(true);
  });

  it("96-bit IVs: valid tags exact, modified tags refused; 128-bit IVs: ERR_NONCE_LENGTH", async () => {
    const n = { valid: 0, invalid: 0, badIv: 0 };
    for (const t of all) {
      const gmac = await createAesGmac(hex(t.key));
      const [iv, msg, tag] = [hex(t.iv), hex(t.msg), hex(t.tag)];
      if (t.ivSize !== 96) {
        expect(() => gmac.sign(iv, msg), `tcId ${t.tcId}`).toThrow(code("ERR_NONCE_LENGTH"));
        expect(() => gmac.verify(iv, msg, tag), `tcId ${t.tcId}`).toThrow(code("ERR_NONCE_LENGTH"));
        n.badIv++;
      } else if (t.result === "valid") {
        expect(toHex(gmac.sign(iv, msg)), `tcId ${t.tcId}`).toBe(t.tag);
        expect(gmac.verify(iv, msg, tag), `tcId ${t.tcId}`).toBe(true);
        n.valid++;
      } else {
        expect(gmac.verify(iv, msg, tag), `tcId ${t.tcId}`).toBe(false);
        n.invalid++;
      }
      gmac.destroy();
    }
    expect(n).toEqual({ valid: 45, invalid: 162, badIv: 207 });
  });
});

describe("AES-GMAC API", () => {
  const seed = seedFromEnv(0x4543);
  const rng = new Prng(seed);

  it(`differential against node:crypto aes-*-gcm with an empty plaintext (seed ${seed})`, async () => {
    for (const keyLen of [16, 24, 32]) {
      const key = rng.bytes(keyLen);
      const gmac = await createAesGmac(key);
      for (let i = 0; i < 300; i++) {
        const iv = rng.bytes(12);
        const msg = rng.bytes(i < 40 ? i : rng.int(0, 3000));
        const c = createCipheriv(`aes-${keyLen * 8}-gcm` as "aes-128-gcm", key, iv);
        c.setAAD(msg);
        c.final();
        const want = c.getAuthTag();
        const got = gmac.sign(iv, msg);
        expect(toHex(got), `key ${keyLen} msg ${msg.length}`).toBe(toHex(want));
        expect(gmac.verify(iv, msg, got)).toBe(true);
        const bad = got.slice();
        bad[rng.int(0, 15)] ^= 1 << rng.int(0, 7);
        expect(gmac.verify(iv, msg, bad)).toBe(false);
        if (msg.length > 0) {
          const m2 = msg.slice();
          m2[rng.int(0, m2.length - 1)] ^= 1;
          expect(gmac.verify(iv, m2, got)).toBe(false);
        }
      }
      gmac.destroy();
    }
  });

  it("refuses bad keys, IVs and tag lengths by name; destroyed keys are refused", async () => {
    expect(GMAC_IV_LENGTH).toBe(12);
    expect(GMAC_TAG_LENGTH).toBe(16);
    for (const n of [0, 8, 15, 20, 33]) await expect(createAesGmac(new Uint8Array(n))).rejects.toThrow(code("ERR_KEY_LENGTH"));
    await expect(createAesGmac("k" as never)).rejects.toThrow(code("ERR_INPUT_TYPE"));
    const gmac = await createAesGmac(new Uint8Array(16));
    for (const n of [0, 8, 11, 13, 16]) expect(() => gmac.sign(new Uint8Array(n), new Uint8Array(3))).toThrow(code("ERR_NONCE_LENGTH"));
    for (const n of [0, 8, 12, 15, 17]) {
      expect(() => gmac.verify(new Uint8Array(12), new Uint8Array(3), new Uint8Array(n))).toThrow(code("ERR_TAG_LENGTH"));
    }
    expect(() => gmac.sign(new Uint8Array(12), "m" as never)).toThrow(code("ERR_INPUT_TYPE"));
    expect(JSON.stringify(gmac)).toBe('{"keyLength":16,"destroyed":false}');
    gmac.destroy();
    gmac.destroy();
    expect(() => gmac.sign(new Uint8Array(12), new Uint8Array(3))).toThrow(code("ERR_DESTROYED"));
  });
});

espAlgorithmSuite({ algorithm: "aes-gmac", keyLengths: [16, 24, 32], clear: true, seed: 0x4543_0002 });

describe("AES-GMAC ESP specifics (RFC 4543)", () => {
  const rng = new Prng(0x4543_0003);

  it("the IV is in the AAD (RFC 4543 §3.3): a changed IV fails, even with the nonce otherwise unused", async () => {
    const esp = await createEsp();
    const keymat = rng.bytes(20);
    const out = esp.addOutbound({ spi: 0x55, keymat, algorithm: "aes-gmac" });
    esp.addInbound({ spi: 0x55, keymat, algorithm: "aes-gmac" });
    const inner = rng.bytes(60);
    inner[0] = 0x60;
    const pkt = esp.protectOne(out, inner);
    // On the wire: SPI ‖ seq ‖ IV ‖ inner (clear) ‖ trailer ‖ 16-byte ICV.
    expect(pkt.length).toBe(16 + 60 + 2 + 2 + 16);
    expect(Buffer.compare(pkt.subarray(16, 76), inner)).toBe(0);
    expect([...pkt.subarray(76, 80)]).toEqual([1, 2, 2, 41]);
    for (const byte of [8, 11, 12, 15]) {
      const p = pkt.slice();
      p[byte] ^= 0x10;
      expect(() => esp.unprotectOne(p), `IV byte ${byte - 8}`).toThrow(code("ERR_AUTH"));
    }
    expect(Buffer.compare(esp.unprotectOne(pkt).payload, inner)).toBe(0);
  });
});
