// Every test of Wycheproof's aes_gcm_test.json, on both engines and on both the one-shot
// and the batch paths: 12-byte IVs give the exact bytes (valid) or ERR_AUTH (invalid);
// every other IV length is refused with ERR_NONCE_LENGTH.
import { describe, expect, it } from "vitest";
import { createAesGcm, type GcmEngine } from "../src/index.js";
import { hex, loadAead, toHex } from "./helpers/wycheproof.js";

const { groups, numberOfTests } = loadAead("aes_gcm_test.json");
const all = groups.flatMap((g) => g.tests.map((t) => ({ ...t, ivSize: g.ivSize, tagSize: g.tagSize })));

describe.each<GcmEngine>(["wasm", "node"])("Wycheproof AES-GCM, engine %s", (engine) => {
  it("covers the whole file", () => {
    expect(all.length).toBe(numberOfTests);
    expect(all.length).toBe(316);
    expect(all.filter((t) => t.ivSize === 96).length).toBe(197);
  });

  it("one-shot: 96-bit IVs exact, invalid rejected, other IVs ERR_NONCE_LENGTH", async () => {
    let valid = 0;
    let invalid = 0;
    let badNonce = 0;
    for (const t of all) {
      const gcm = await createAesGcm(hex(t.key), { engine });
      const tagLen = t.tagSize / 8;
      const iv = hex(t.iv);
      if (t.ivSize !== 96) {
        expect(() => gcm.seal(iv, hex(t.msg), hex(t.aad), tagLen)).toThrow(expect.objectContaining({ code: "ERR_NONCE_LENGTH" }));
        expect(() => gcm.open(iv, hex(t.ct + t.tag), hex(t.aad), tagLen)).toThrow(expect.objectContaining({ code: "ERR_NONCE_LENGTH" }));
        badNonce++;
      } else if (t.result === "valid") {
        expect(toHex(gcm.seal(iv, hex(t.msg), hex(t.aad), tagLen)), `tcId ${t.tcId}`).toBe(t.ct + t.tag);
        expect(toHex(gcm.open(iv, hex(t.ct + t.tag), hex(t.aad), tagLen)), `tcId ${t.tcId}`).toBe(t.msg);
        valid++;
      } else {
        expect(() => gcm.open(iv, hex(t.ct + t.tag), hex(t.aad), tagLen), `tcId ${t.tcId}`).toThrow(
          expect.objectContaining({ code: "ERR_AUTH" }),
        );
        invalid++;
      }
      gcm.destroy();
    }
    // 197 tests with 96-bit IVs; the rest have other lengths.
    expect(valid + invalid).toBe(197);
    expect(badNonce).toBe(316 - 197);
    expect(invalid).toBeGreaterThan(0);
  });

  it("batch: every 96-bit-IV test of a key size in one sealBatch/openBatch call", async () => {
    for (const g of groups.filter((x) => x.ivSize === 96)) {
      const byKey = new Map<string, typeof g.tests>();
      for (const t of g.tests) byKey.set(t.key, [...(byKey.get(t.key) ?? []), t]);
      for (const [key, tests] of byKey) {
        const gcm = await createAesGcm(hex(key), { engine });
        const tagLen = g.tagSize / 8;
        const valid = tests.filter((t) => t.result === "valid");
        const sb = gcm.createBatch({ packets: valid.length || 1, bytes: 1 << 16 });
        valid.forEach((t) => sb.add(hex(t.iv), hex(t.msg), hex(t.aad)));
        expect(gcm.sealBatch(sb, tagLen)).toBe(valid.length);
        valid.forEach((t, i) => expect(toHex(sb.output(i)), `tcId ${t.tcId}`).toBe(t.ct + t.tag));
        sb.destroy();
        const ob = gcm.createBatch({ packets: tests.length, bytes: 1 << 16 });
        tests.forEach((t) => ob.add(hex(t.iv), hex(t.ct + t.tag), hex(t.aad)));
        expect(gcm.openBatch(ob, tagLen)).toBe(valid.length);
        tests.forEach((t, i) => {
          if (t.result === "valid") expect(toHex(ob.output(i)), `tcId ${t.tcId}`).toBe(t.msg);
          else expect(ob.error(i)?.code, `tcId ${t.tcId}`).toBe("ERR_AUTH");
        });
        ob.destroy();
        gcm.destroy();
      }
    }
  });
});
