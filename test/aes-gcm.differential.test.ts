// Differential test against node:crypto (OpenSSL) on 10,000 random cases in one run:
// every key size, plaintext 0–2048 bytes, AAD 0–64 bytes, tags of 8, 12 and 16 bytes.
// The wasm engine runs each case one-shot; both engines run the same cases as batches.
import { createCipheriv, createDecipheriv } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createAesGcm } from "../src/index.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";
import { toHex } from "./helpers/wycheproof.js";

const SEED = seedFromEnv(0x4891);
const KEYS = 500;
const PER_KEY = 20;

interface Case {
  nonce: Uint8Array;
  pt: Uint8Array;
  aad: Uint8Array;
}

function opensslSeal(key: Uint8Array, c: Case, tagLen: number): string {
  const e = createCipheriv(`aes-${key.length * 8}-gcm` as "aes-128-gcm", key, c.nonce, { authTagLength: tagLen });
  e.setAAD(c.aad);
  const ct = Buffer.concat([e.update(c.pt), e.final()]);
  return toHex(ct) + toHex(e.getAuthTag());
}

function opensslOpen(key: Uint8Array, c: Case, sealed: Uint8Array, tagLen: number): string {
  const d = createDecipheriv(`aes-${key.length * 8}-gcm` as "aes-128-gcm", key, c.nonce, { authTagLength: tagLen });
  d.setAAD(c.aad);
  d.setAuthTag(sealed.subarray(sealed.length - tagLen));
  return toHex(Buffer.concat([d.update(sealed.subarray(0, sealed.length - tagLen)), d.final()]));
}

describe(`AES-GCM vs node:crypto, ${KEYS * PER_KEY} random cases (seed ${SEED})`, () => {
  it("one-shot (wasm) and batches (wasm and node engines) agree with OpenSSL", async () => {
    const rng = new Prng(SEED);
    let cases = 0;
    const sizes = new Set<number>();
    for (let k = 0; k < KEYS; k++) {
      const key = rng.bytes(rng.pick([16, 24, 32]));
      const tagLen = rng.pick([8, 12, 16]);
      const wasm = await createAesGcm(key, { engine: "wasm" });
      const node = await createAesGcm(key, { engine: "node" });
      const list: Case[] = [];
      for (let i = 0; i < PER_KEY; i++) {
        // Favour the edges: empty, one byte, block boundaries ± 1, the maximum.
        const len = rng.u32() % 4 === 0 ? rng.pick([0, 1, 15, 16, 17, 31, 32, 33, 2047, 2048]) : rng.int(0, 2048);
        list.push({ nonce: rng.bytes(12), pt: rng.bytes(len), aad: rng.bytes(rng.int(0, 64)) });
      }
      const expected = list.map((c) => opensslSeal(key, c, tagLen));
      for (const [i, c] of list.entries()) {
        sizes.add(key.length * 8);
        const sealed = wasm.seal(c.nonce, c.pt, c.aad, tagLen);
        expect(toHex(sealed), `key ${k} case ${i}`).toBe(expected[i]);
        expect(toHex(wasm.open(c.nonce, sealed, c.aad, tagLen))).toBe(opensslOpen(key, c, sealed, tagLen));
        cases++;
      }
      for (const gcm of [wasm, node]) {
        const sb = gcm.createBatch({ packets: PER_KEY, bytes: PER_KEY * 2200 });
        list.forEach((c) => sb.add(c.nonce, c.pt, c.aad));
        expect(gcm.sealBatch(sb, tagLen)).toBe(PER_KEY);
        list.forEach((_, i) => expect(toHex(sb.output(i)), `${gcm.engine} batch ${k}/${i}`).toBe(expected[i]));
        const ob = gcm.createBatch({ packets: PER_KEY, bytes: PER_KEY * 2200 });
        list.forEach((c, i) => ob.add(c.nonce, Buffer.from(expected[i], "hex"), c.aad));
        expect(gcm.openBatch(ob, tagLen)).toBe(PER_KEY);
        list.forEach((c, i) => expect(toHex(ob.output(i))).toBe(toHex(c.pt)));
        sb.destroy();
        ob.destroy();
      }
      wasm.destroy();
      node.destroy();
    }
    expect(cases).toBe(10_000);
    expect([...sizes].sort()).toEqual([128, 192, 256]);
  });
});
