// The public API's contract: argument checks with named errors, destroy() zeroing key
// material in wasm memory, no key in inspect/JSON output, batch limits.
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import { createAesGcm, GcmBatch, IpsecError } from "../src/index.js";
import { newCore } from "../src/core/wasm.js";

const key = new Uint8Array(16).fill(0x5a);
const nonce = new Uint8Array(12).fill(1);
const code = (c: string) => expect.objectContaining({ code: c });

describe("createAesGcm", () => {
  it("accepts 16, 24 and 32-byte keys and refuses others with ERR_KEY_LENGTH", async () => {
    for (const n of [16, 24, 32]) expect((await createAesGcm(new Uint8Array(n))).keyLength).toBe(n);
    for (const n of [0, 1, 15, 17, 20, 31, 33, 64]) {
      await expect(createAesGcm(new Uint8Array(n))).rejects.toThrow(code("ERR_KEY_LENGTH"));
    }
    await expect(createAesGcm("00".repeat(16) as unknown as Uint8Array)).rejects.toThrow(code("ERR_INPUT_TYPE"));
    await expect(createAesGcm(key, { engine: "gpu" as "wasm" })).rejects.toThrow(code("ERR_ENGINE"));
  });

  it("picks the node engine by default in Node, and honours an explicit choice", async () => {
    expect((await createAesGcm(key)).engine).toBe("node");
    expect((await createAesGcm(key, { engine: "wasm" })).engine).toBe("wasm");
    expect((await createAesGcm(key, { engine: "node" })).engine).toBe("node");
  });

  it("requires 12-byte nonces (ERR_NONCE_LENGTH) and tags of 8, 12 or 16 (ERR_TAG_LENGTH)", async () => {
    const gcm = await createAesGcm(key);
    for (const n of [0, 1, 8, 11, 13, 16, 64]) {
      expect(() => gcm.seal(new Uint8Array(n), new Uint8Array(4))).toThrow(code("ERR_NONCE_LENGTH"));
      expect(() => gcm.open(new Uint8Array(n), new Uint8Array(20))).toThrow(code("ERR_NONCE_LENGTH"));
    }
    for (const t of [0, 4, 7, 9, 13, 15, 17, 32, 16.5, NaN]) {
      expect(() => gcm.seal(nonce, new Uint8Array(4), undefined, t)).toThrow(code("ERR_TAG_LENGTH"));
      expect(() => gcm.open(nonce, new Uint8Array(20), undefined, t)).toThrow(code("ERR_TAG_LENGTH"));
    }
    expect(() => gcm.seal(nonce, [1, 2] as unknown as Uint8Array)).toThrow(code("ERR_INPUT_TYPE"));
    expect(() => gcm.seal(nonce, new Uint8Array(1), "x" as unknown as Uint8Array)).toThrow(code("ERR_INPUT_TYPE"));
    for (const t of [8, 12, 16]) {
      const s = gcm.seal(nonce, new Uint8Array(33), undefined, t);
      expect(s.length).toBe(33 + t);
      expect(gcm.open(nonce, s, undefined, t)).toEqual(new Uint8Array(33));
    }
  });

  it("errors are IpsecError with a code and never mention the key", async () => {
    const gcm = await createAesGcm(key);
    try {
      gcm.open(nonce, new Uint8Array(32));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(IpsecError);
      expect((e as IpsecError).code).toBe("ERR_AUTH");
      expect(String((e as Error).message)).not.toContain("5a5a");
    }
  });

  it("destroy() zeroes the key schedule and GHASH key in wasm memory; use after it is ERR_DESTROYED", async () => {
    const core = await newCore();
    const gcm = await createAesGcm(new Uint8Array(32).fill(0xa7), { core, engine: "wasm" });
    const ctx = (gcm as unknown as { ctx: number }).ctx;
    const region = () => core.u8.slice(ctx, ctx + core.gcmCtxBytes);
    expect(region().some((b) => b !== 0)).toBe(true);
    gcm.destroy();
    expect(region().every((b) => b === 0)).toBe(true);
    expect(() => gcm.seal(nonce, new Uint8Array(1))).toThrow(code("ERR_DESTROYED"));
    expect(() => gcm.createBatch()).toThrow(code("ERR_DESTROYED"));
    gcm.destroy(); // idempotent
  });

  it("inspect and JSON show no key material", async () => {
    const gcm = await createAesGcm(key);
    expect(inspect(gcm)).toBe("AesGcm { keyLength: 16, engine: 'node' }");
    expect(JSON.stringify(gcm)).toBe('{"keyLength":16,"engine":"node","destroyed":false}');
  });

  it("one-shot calls leave no plaintext or keystream in the scratch region", async () => {
    const core = await newCore();
    const gcm = await createAesGcm(key, { core, engine: "wasm" });
    const secret = new Uint8Array(64).fill(0xee);
    gcm.seal(nonce, secret);
    const mem = core.u8;
    let run = 0;
    for (let i = 0; i < mem.length && run < 16; i++) run = mem[i] === 0xee ? run + 1 : 0;
    expect(run).toBeLessThan(16);
  });
});

describe("GcmBatch", () => {
  it("refuses more packets or bytes than it holds with ERR_BATCH_FULL, and bad indices", async () => {
    const gcm = await createAesGcm(key);
    const b = gcm.createBatch({ packets: 2, bytes: 256 });
    b.add(nonce, new Uint8Array(10));
    expect(() => b.add(nonce, new Uint8Array(300))).toThrow(code("ERR_BATCH_FULL"));
    expect(b.length).toBe(1);
    b.add(nonce, new Uint8Array(10));
    expect(() => b.add(nonce, new Uint8Array(1))).toThrow(code("ERR_BATCH_FULL"));
    expect(() => b.add(new Uint8Array(8), new Uint8Array(1))).toThrow(code("ERR_NONCE_LENGTH"));
    expect(() => b.output(0)).toThrow(code("ERR_INPUT_TYPE")); // not run yet
    expect(() => b.output(2)).toThrow(code("ERR_INPUT_TYPE"));
    expect(() => b.output(-1)).toThrow(code("ERR_INPUT_TYPE"));
    expect(gcm.sealBatch(b, 12)).toBe(2);
    expect(b.output(1).length).toBe(22);
    expect(() => gcm.sealBatch(b, 10)).toThrow(code("ERR_TAG_LENGTH"));
    b.clear();
    expect(b.length).toBe(0);
    expect(gcm.sealBatch(b)).toBe(0);
    b.destroy();
    expect(() => b.add(nonce, new Uint8Array(1))).toThrow(code("ERR_DESTROYED"));
    expect(() => new GcmBatch((gcm as unknown as { core: never }).core, { packets: 0 })).toThrow(code("ERR_INPUT_TYPE"));
  });

  it("refuses a batch from another wasm instance", async () => {
    const a = await createAesGcm(key, { core: await newCore() });
    const b = await createAesGcm(key, { core: await newCore() });
    const batch = a.createBatch({ packets: 1, bytes: 64 });
    batch.add(nonce, new Uint8Array(1));
    expect(() => b.sealBatch(batch)).toThrow(code("ERR_ENGINE"));
  });

  it("reserve() lets the caller write data straight into wasm memory", async () => {
    const gcm = await createAesGcm(key, { engine: "wasm" });
    const b = gcm.createBatch({ packets: 1, bytes: 256 });
    const i = b.reserve(nonce, 5);
    b.input(i).set([1, 2, 3, 4, 5]);
    gcm.sealBatch(b);
    expect(Buffer.from(b.output(i))).toEqual(Buffer.from(gcm.seal(nonce, new Uint8Array([1, 2, 3, 4, 5]))));
  });

  it("batches run without growing wasm memory (no allocation per packet)", async () => {
    const core = await newCore();
    for (const engine of ["wasm", "node"] as const) {
      const gcm = await createAesGcm(key, { core, engine });
      const b = gcm.createBatch({ packets: 64, bytes: 64 * 1500 });
      for (let i = 0; i < 64; i++) b.add(nonce, new Uint8Array(1400), new Uint8Array(8));
      gcm.sealBatch(b);
      const before = core.x.memory.buffer.byteLength;
      for (let r = 0; r < 1000; r++) gcm.sealBatch(b);
      expect(core.x.memory.buffer.byteLength).toBe(before);
    }
  });
});
