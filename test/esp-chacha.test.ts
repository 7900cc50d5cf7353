// ESP with ChaCha20-Poly1305 (RFC 7634) in wasm: the ESP test shapes of test/esp.test.ts
// (test/helpers/esp-suite.ts) against the independent node:crypto ESP, plus the RFC 7634
// specifics: 36-byte keymat, 16-byte ICV only, AAD as RFC 4106 with and without ESN.
import { describe, expect, it } from "vitest";
import { createEsp } from "../src/esp.js";
import { espAlgorithm, ESP_ALGORITHM_KEYWORDS } from "../src/esp-algorithms.js";
import { espAlgorithmSuite } from "./helpers/esp-suite.js";
import { espOpenNode } from "../bench/esp-node-crypto.mjs";
import { Prng } from "./helpers/prng.js";

espAlgorithmSuite({ algorithm: "chacha20-poly1305", keyLengths: [32], clear: false, seed: 0x7634 });

describe("ChaCha20-Poly1305 ESP specifics (RFC 7634)", () => {
  const rng = new Prng(0x7634_0002);

  it("the SA record keeps its size: the ChaCha20 key shares the AES-GCM context's room", async () => {
    const esp = await createEsp({ capacity: 2 });
    const before = esp.bytesPerSa;
    esp.addOutbound({ spi: 1, keymat: rng.bytes(36), algorithm: "chacha20-poly1305" });
    esp.addOutbound({ spi: 2, keymat: rng.bytes(36), algorithm: "aes-gcm" });
    expect(esp.bytesPerSa).toBe(before);
    expect(before % 16).toBe(0);
  });

  it("nonce = salt ‖ IV: the last 4 bytes of keymat are the salt, not key", async () => {
    const esp = await createEsp();
    const keymat = rng.bytes(36);
    const out = esp.addOutbound({ spi: 9, keymat, algorithm: "chacha20-poly1305" });
    const pkt = esp.protectOne(out, rng.bytes(50));
    const wrongSalt = keymat.slice();
    wrongSalt[35] ^= 1;
    expect(() => espOpenNode({ keymat: wrongSalt, algorithm: "chacha20-poly1305" }, pkt)).toThrow();
    expect(espOpenNode({ keymat, algorithm: "chacha20-poly1305" }, pkt).nextHeader).toBe(41);
  });

  it("unknown algorithms are refused by name", async () => {
    const esp = await createEsp();
    expect(() => esp.addOutbound({ spi: 1, keymat: rng.bytes(36), algorithm: "chacha20" as never })).toThrow(
      expect.objectContaining({ code: "ERR_INPUT_TYPE" }),
    );
  });
});

describe("strongSwan ESP keywords (src/esp-algorithms.ts)", () => {
  it.each([
    ["aes128gcm16", "aes-gcm", 16, 16],
    ["aes128gcm128", "aes-gcm", 16, 16],
    ["aes128gcm", "aes-gcm", 16, 16],
    ["aes192gcm12", "aes-gcm", 24, 12],
    ["aes256gcm96", "aes-gcm", 32, 12],
    ["aes256gcm8", "aes-gcm", 32, 8],
    ["aes256gcm64", "aes-gcm", 32, 8],
    ["chacha20poly1305", "chacha20-poly1305", 32, 16],
    ["aes128gmac", "aes-gmac", 16, 16],
    ["aes192gmac", "aes-gmac", 24, 16],
    ["AES256GMAC", "aes-gmac", 32, 16],
  ] as const)("%s → %s, %i-byte key, ICV %i", async (kw, algorithm, keyLength, icvLength) => {
    const a = espAlgorithm(kw);
    expect(a).toMatchObject({ algorithm, keyLength, icvLength, keymatLength: keyLength + 4 });
    // And Esp takes exactly that.
    const esp = await createEsp();
    const h = esp.addOutbound({ spi: 1, keymat: new Uint8Array(a.keymatLength).fill(1), ...a });
    expect(h.algorithm).toBe(algorithm);
  });

  it("names that are not (implemented) ESP algorithms are refused", () => {
    for (const kw of ["aes128", "aes128ccm16", "chacha20poly1305compat", "aes128gcm32", "", "3des"]) {
      expect(() => espAlgorithm(kw), kw).toThrow(expect.objectContaining({ code: "ERR_CONFIG" }));
    }
    expect(ESP_ALGORITHM_KEYWORDS).toContain("aes256gcm16");
    expect(ESP_ALGORITHM_KEYWORDS.length).toBe(3 * 7 + 3 + 1);
  });
});
