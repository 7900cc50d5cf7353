// Known answers for ChaCha20-Poly1305: every test of Wycheproof's chacha20_poly1305_test.json
// on the one-shot and the batch paths (12-byte nonces give the exact bytes when valid and
// ERR_AUTH when invalid; every other nonce length is ERR_NONCE_LENGTH), and the examples of
// RFC 8439 §2.4.2 (ChaCha20), §2.5.2 (Poly1305), §2.8.2 (AEAD).
import { describe, expect, it } from "vitest";
import { createChaCha20Poly1305 } from "../src/index.js";
import { getCore } from "../src/core/wasm.js";
import { hex, loadAead, toHex } from "./helpers/wycheproof.js";

const { groups, numberOfTests } = loadAead("chacha20_poly1305_test.json");
const all = groups.flatMap((g) => g.tests.map((t) => ({ ...t, ivSize: g.ivSize, tagSize: g.tagSize })));
const code = (c: string) => expect.objectContaining({ code: c });

describe("Wycheproof ChaCha20-Poly1305", () => {
  it("covers the whole file", () => {
    expect(all.length).toBe(numberOfTests);
    expect(all.length).toBe(325);
    expect(all.filter((t) => t.ivSize === 96).length).toBe(316);
    expect(all.every((t) => t.tagSize === 128)).toBe(true);
  });

  it("one-shot: valid exact both ways, invalid ERR_AUTH, other nonce sizes ERR_NONCE_LENGTH", async () => {
    let valid = 0;
    let invalid = 0;
    let badNonce = 0;
    for (const t of all) {
      const c = await createChaCha20Poly1305(hex(t.key));
      const iv = hex(t.iv);
      if (t.ivSize !== 96) {
        expect(() => c.seal(iv, hex(t.msg), hex(t.aad)), `tcId ${t.tcId}`).toThrow(code("ERR_NONCE_LENGTH"));
        expect(() => c.open(iv, hex(t.ct + t.tag), hex(t.aad)), `tcId ${t.tcId}`).toThrow(code("ERR_NONCE_LENGTH"));
        const b = c.createBatch({ packets: 1 });
        expect(() => b.add(iv, hex(t.msg), hex(t.aad)), `tcId ${t.tcId}`).toThrow(code("ERR_NONCE_LENGTH"));
        b.destroy();
        badNonce++;
      } else if (t.result === "valid") {
        expect(toHex(c.seal(iv, hex(t.msg), hex(t.aad))), `tcId ${t.tcId}`).toBe(t.ct + t.tag);
        expect(toHex(c.open(iv, hex(t.ct + t.tag), hex(t.aad))), `tcId ${t.tcId}`).toBe(t.msg);
        valid++;
      } else {
        expect(() => c.open(iv, hex(t.ct + t.tag), hex(t.aad)), `tcId ${t.tcId}`).toThrow(code("ERR_AUTH"));
        invalid++;
      }
      c.destroy();
    }
    expect(valid).toBe(256);
    expect(invalid).toBe(60);
    expect(badNonce).toBe(9);
  });

  it("batch: every 12-byte-nonce test of a key in one sealBatch/openBatch call", async () => {
    const byKey = new Map<string, typeof all>();
    for (const t of all.filter((x) => x.ivSize === 96)) byKey.set(t.key, [...(byKey.get(t.key) ?? []), t]);
    let checked = 0;
    for (const [key, tests] of byKey) {
      const c = await createChaCha20Poly1305(hex(key));
      const valid = tests.filter((t) => t.result === "valid");
      if (valid.length > 0) {
        const sb = c.createBatch({ packets: valid.length, bytes: 1 << 16 });
        valid.forEach((t) => sb.add(hex(t.iv), hex(t.msg), hex(t.aad)));
        expect(c.sealBatch(sb)).toBe(valid.length);
        valid.forEach((t, i) => expect(toHex(sb.output(i)), `tcId ${t.tcId}`).toBe(t.ct + t.tag));
        sb.destroy();
      }
      const ob = c.createBatch({ packets: tests.length, bytes: 1 << 16 });
      tests.forEach((t) => ob.add(hex(t.iv), hex(t.ct + t.tag), hex(t.aad)));
      expect(c.openBatch(ob)).toBe(valid.length);
      tests.forEach((t, i) => {
        if (t.result === "valid") expect(toHex(ob.output(i)), `tcId ${t.tcId}`).toBe(t.msg);
        else expect(ob.error(i)?.code, `tcId ${t.tcId}`).toBe("ERR_AUTH");
        checked++;
      });
      ob.destroy();
      c.destroy();
    }
    expect(checked).toBe(316);
  });
});

// RFC 8439 examples.
const SUNSCREEN = new TextEncoder().encode(
  "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
);

describe("RFC 8439 examples", () => {
  it("§2.8.2 AEAD_CHACHA20_POLY1305", async () => {
    const c = await createChaCha20Poly1305(hex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"));
    const nonce = hex("070000004041424344454647");
    const aad = hex("50515253c0c1c2c3c4c5c6c7");
    const ct =
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b" +
      "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc" +
      "3ff4def08e4b7a9de576d26586cec64b6116";
    const tag = "1ae10b594f09e26a7e902ecbd0600691";
    expect(toHex(c.seal(nonce, SUNSCREEN, aad))).toBe(ct + tag);
    expect(c.open(nonce, hex(ct + tag), aad)).toEqual(SUNSCREEN);
    c.destroy();
  });

  it("§2.4.2 ChaCha20 encryption and §2.5.2 Poly1305 (wasm exports chacha20Xor, poly1305Mac)", async () => {
    const core = await getCore();
    const x = core.x as unknown as {
      chacha20Xor(key: number, nonce: number, ctr: number, src: number, dst: number, len: number): void;
      poly1305Mac(key: number, m: number, len: number, tag: number): void;
    };
    const p = core.alloc(1024);
    const u8 = core.u8;
    u8.set(hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"), p);
    u8.set(hex("000000000000004a00000000"), p + 32);
    u8.set(SUNSCREEN, p + 64);
    x.chacha20Xor(p, p + 32, 1, p + 64, p + 512, SUNSCREEN.length);
    expect(toHex(core.u8.slice(p + 512, p + 512 + SUNSCREEN.length))).toBe(
      "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0bf91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d807ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab77937365af90bbf74a35be6b40b8eedf2785e42874d",
    );
    const msg = new TextEncoder().encode("Cryptographic Forum Research Group");
    u8.set(hex("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b"), p);
    u8.set(msg, p + 64);
    x.poly1305Mac(p, p + 64, msg.length, p + 512);
    expect(toHex(core.u8.slice(p + 512, p + 528))).toBe("a8061dc1305136c6c22b8baf0c0127a9");
    core.free(p, 1024);
  });
});
