// The "node" ESP engine (src/esp.ts EspEngine): inbound AES-GCM SAs take their AES keystream
// for a whole batch from node:crypto's AES-ECB (one call per SA and batch) while GHASH, the tag
// check, replay and every other step stay in wasm. It must be indistinguishable from the "wasm"
// engine: the same SAs fed the same batches — packets sealed by the independent node:crypto
// ESP of bench/esp-node-crypto.mjs, for AES-GCM 128/192/256 with ICV 8/12/16, with and without
// ESN, mixed with ChaCha20-Poly1305 and AES-GMAC SAs, plus tampered, truncated, replayed,
// dummy, badly padded and unknown-SPI packets — give the same result, drop reason, bytes, next
// header and sequence number for every packet, and byte-identical SA records, replay windows
// and counters afterwards. The keystream never outlives the call.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEsp, type Esp, type EspAlgorithm, type EspBatch, type SaHandle } from "../src/esp.js";
import { setKeystreamProvider } from "../src/core/keystream.js";
import { nodeKeystreamProvider } from "../src/core/node-keystream.js";
import { espSealNode } from "../bench/esp-node-crypto.mjs";
import { Prng } from "./helpers/prng.js";

interface SaSpec {
  spi: number;
  keymat: Uint8Array;
  algorithm: EspAlgorithm;
  icv: number;
  esn: boolean;
  window: number;
}

const rng = new Prng(0xe5e1);

function sas(): SaSpec[] {
  const out: SaSpec[] = [];
  let spi = 0x5000;
  for (const keyLen of [16, 24, 32]) {
    for (const icv of [8, 12, 16]) {
      for (const esn of [false, true]) out.push({ spi: spi++, keymat: rng.bytes(keyLen + 4), algorithm: "aes-gcm", icv, esn, window: esn ? 1024 : 64 });
    }
  }
  out.push({ spi: spi++, keymat: rng.bytes(36), algorithm: "chacha20-poly1305", icv: 16, esn: false, window: 64 });
  out.push({ spi: spi++, keymat: rng.bytes(20), algorithm: "aes-gmac", icv: 16, esn: true, window: 64 });
  out.push({ spi: spi++, keymat: rng.bytes(20), algorithm: "aes-gcm", icv: 16, esn: false, window: 0 });
  return out;
}

function ipv6(len: number): Uint8Array {
  const p = rng.bytes(Math.max(40, len));
  p[0] = 0x60;
  return p;
}

/** Every packet kind, in a random order: [packet, what it is]. */
function traffic(specs: SaSpec[]): [Uint8Array, string][] {
  const out: [Uint8Array, string][] = [];
  const seqs = new Map<number, bigint>();
  for (const s of specs) seqs.set(s.spi, s.esn ? 0xfffffff0n : 0n);
  const seal = (s: SaSpec, payload: Uint8Array, extra: { nextHeader?: number; padLength?: number; seq?: bigint } = {}) => {
    const seq = extra.seq ?? (seqs.get(s.spi)! + BigInt(rng.int(1, 3)));
    if (extra.seq === undefined) seqs.set(s.spi, seq);
    return espSealNode({ spi: s.spi, keymat: s.keymat, seq: s.esn ? seq : seq & 0xffffffffn, icv: s.icv, esn: s.esn, algorithm: s.algorithm, nextHeader: extra.nextHeader, padLength: extra.padLength }, payload);
  };
  for (let round = 0; round < 40; round++) {
    for (const s of specs) {
      const good = seal(s, ipv6(rng.int(0, 1400)));
      out.push([good, "good"]);
      switch (rng.int(0, 8)) {
        case 0: {
          const t = good.slice();
          t[rng.int(16, t.length - 1)] ^= 1 << rng.int(0, 7); // ciphertext or ICV
          out.push([t, "tampered"]);
          break;
        }
        case 1:
          out.push([good.slice(), "replayed"]);
          break;
        case 2:
          out.push([good.slice(0, rng.int(0, 16 + s.icv + 1)), "truncated"]);
          break;
        case 3:
          out.push([seal(s, ipv6(60), { nextHeader: 59 }), "dummy"]);
          break;
        case 4:
          out.push([seal(s, ipv6(61), { padLength: 255 }), "bad-padding"]);
          break;
        case 5: {
          const u = good.slice();
          u[0] ^= 0x80; // an SPI nobody has
          out.push([u, "unknown-spi"]);
          break;
        }
        case 6:
          out.push([seal(s, new Uint8Array(0)), "empty"]);
          break;
        default:
          break;
      }
    }
  }
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

async function engineEsp(engine: "wasm" | "node", specs: SaSpec[]): Promise<{ esp: Esp; handles: SaHandle[] }> {
  const esp = await createEsp({ capacity: 64, engine });
  expect(esp.engine).toBe(engine);
  const handles = specs.map((s) =>
    esp.addInbound({ spi: s.spi, keymat: s.keymat, algorithm: s.algorithm, icvLength: s.icv, esn: s.esn, replayWindow: s.window }),
  );
  return { esp, handles };
}

function outcome(b: EspBatch, i: number) {
  const r = b.result(i);
  return {
    result: r,
    reason: b.reason(i),
    sa: b.sa(i)?.spi,
    bytes: r >= 0 ? Buffer.from(b.output(i)).toString("hex") : "",
    nextHeader: r >= 0 ? b.nextHeader(i) : -1,
    sequence: r >= 0 ? b.sequence(i) : -1n,
  };
}

describe("ESP engines: node:crypto keystream vs wasm AES", () => {
  beforeAll(() => setKeystreamProvider(nodeKeystreamProvider));
  afterAll(() => setKeystreamProvider(undefined));

  it("every packet kind, mixed SAs and algorithms, random batch sizes: identical results, bytes and SA state", async () => {
    const specs = sas();
    const packets = traffic(specs);
    const wasm = await engineEsp("wasm", specs);
    const node = await engineEsp("node", specs);
    const kinds = new Map<string, number>();
    const reasons = new Set<string>();
    let at = 0;
    while (at < packets.length) {
      const n = Math.min(packets.length - at, rng.int(1, 200));
      const bw = wasm.esp.createBatch({ packets: n, slotBytes: 2048 });
      const bn = node.esp.createBatch({ packets: n, slotBytes: 2048 });
      for (let i = 0; i < n; i++) {
        bw.addPacket(packets[at + i][0]);
        bn.addPacket(packets[at + i][0]);
      }
      // (Zeroed first: heap memory comes back with the allocator's own words in it.)
      const ks = bn.keystreamArea();
      const ksBytes = n * (2048 + 32);
      node.esp.core.x.wipe(ks, ksBytes);
      expect(node.esp.unprotect(bn)).toBe(wasm.esp.unprotect(bw));
      for (let i = 0; i < n; i++) {
        const o = outcome(bw, i);
        expect(outcome(bn, i), `packet ${at + i} (${packets[at + i][1]})`).toEqual(o);
        kinds.set(packets[at + i][1], (kinds.get(packets[at + i][1]) ?? 0) + 1);
        reasons.add(o.reason);
      }
      // The keystream area holds nothing once unprotect returns.
      expect(node.esp.core.u8.subarray(ks, ks + ksBytes).every((x) => x === 0)).toBe(true);
      bw.destroy();
      bn.destroy();
      at += n;
    }
    // The traffic did reach every path.
    expect([...reasons]).toEqual(expect.arrayContaining(["bad-length", "bad-padding", "dummy", "integrity-failure", "none", "replayed", "too-old", "runt", "unknown-spi"]));
    for (const k of ["good", "tampered", "replayed", "truncated", "dummy", "bad-padding", "unknown-spi", "empty"]) expect(kinds.get(k), k).toBeGreaterThan(0);
    specs.forEach((_, k) => expect(Buffer.from(node.esp.snapshot(node.handles[k])).equals(Buffer.from(wasm.esp.snapshot(wasm.handles[k]))), `SA ${k}`).toBe(true));
    expect(node.esp.drops()).toEqual(wasm.esp.drops());
  });

  it("engine selection: auto is node where a provider is registered, wasm where none is; node without one is a named error", async () => {
    expect((await createEsp({ engine: "auto" })).engine).toBe("node");
    expect((await createEsp()).engine).toBe("wasm");
    setKeystreamProvider(undefined);
    try {
      expect((await createEsp({ engine: "auto" })).engine).toBe("wasm");
      await expect(createEsp({ engine: "node" })).rejects.toMatchObject({ code: "ERR_ENGINE" });
      await expect(createEsp({ engine: "fast" as "node" })).rejects.toMatchObject({ code: "ERR_ENGINE" });
    } finally {
      setKeystreamProvider(nodeKeystreamProvider);
    }
  });

  it("removing an SA destroys its cipher; a new SA under the same index uses its own key", async () => {
    const specs = sas().slice(0, 2);
    const node = await engineEsp("node", specs);
    node.esp.remove(node.handles[0]);
    const fresh = { ...specs[0], keymat: rng.bytes(specs[0].keymat.length) };
    const h = node.esp.addInbound({ spi: fresh.spi, keymat: fresh.keymat, icvLength: fresh.icv, esn: fresh.esn, replayWindow: fresh.window });
    expect(h.index).toBe(node.handles[0].index);
    const payload = ipv6(100);
    const b = node.esp.createBatch({ packets: 2 });
    b.addPacket(espSealNode({ spi: fresh.spi, keymat: fresh.keymat, seq: 1, icv: fresh.icv, esn: fresh.esn }, payload));
    b.addPacket(espSealNode({ spi: fresh.spi, keymat: specs[0].keymat, seq: 2, icv: fresh.icv, esn: fresh.esn }, payload)); // the old key
    node.esp.unprotect(b);
    expect(Buffer.from(b.output(0)).equals(Buffer.from(payload))).toBe(true);
    expect(b.reason(1)).toBe("integrity-failure");
  });
});
