// The ESP test shapes of test/esp.test.ts, for any algorithm of src/esp.ts: round trips and
// byte-for-byte cross-checks against the independent node:crypto ESP
// (bench/esp-node-crypto.mjs) in both directions, ESN inference, the replay window moving
// only after the ICV verified, dummies, and every bad-input shape (truncation at every
// offset, every bit flip, bad padding and pad length 255 with an authentic ICV) asserting
// the exact drop reason with the SA's state byte-identical but for one drop counter.
import { describe, expect, it } from "vitest";
import { createEsp, type Esp, type EspAlgorithm, type SaHandle, DROP_REASONS } from "../../src/esp.js";
import { espOpenNode, espSealNode } from "../../bench/esp-node-crypto.mjs";
import { Prng } from "./prng.js";

const code = (c: string) => expect.objectContaining({ code: c });

export function expectOnlyDropCounted(esp: Esp, sa: SaHandle, before: Uint8Array): void {
  const after = esp.snapshot(sa);
  // Compare everything but the per-SA drop counters, which must move by exactly one.
  const layout = esp.core.x as unknown as Record<string, WebAssembly.Global>;
  const drops = layout.SA_DROPS.value as number;
  const end = layout.SA_TUNNEL.value as number; // the counters run up to the next field
  const n = end - drops;
  expect(n).toBeGreaterThanOrEqual(DROP_REASONS.length * 8);
  expect(after.length).toBe(before.length);
  expect(Buffer.compare(after.subarray(0, drops), before.subarray(0, drops))).toBe(0);
  expect(Buffer.compare(after.subarray(end), before.subarray(end))).toBe(0);
  const sum = (b: Uint8Array) => {
    const dv = new DataView(b.buffer, b.byteOffset + drops, n);
    let s = 0n;
    for (let k = 0; k < n; k += 8) s += dv.getBigUint64(k, true);
    return s;
  };
  expect(sum(after) - sum(before)).toBe(1n);
}

export interface SuiteOptions {
  algorithm: EspAlgorithm;
  /** Key lengths (bytes, without the salt) the algorithm takes. */
  keyLengths: number[];
  /** Whether the payload travels in the clear (AES-GMAC). */
  clear: boolean;
  seed: number;
}

/** Define the describe blocks for one algorithm. */
export function espAlgorithmSuite(o: SuiteOptions): void {
  const rng = new Prng(o.seed);
  const algorithm = o.algorithm;
  const ipv6 = (len: number) => {
    const p = rng.bytes(Math.max(len, 40));
    p[0] = 0x60;
    return p;
  };

  async function pair(opts: { keyLen?: number; esn?: boolean; window?: number } = {}) {
    const esp = await createEsp({ capacity: 16 });
    const keymat = rng.bytes((opts.keyLen ?? o.keyLengths[0]) + 4);
    const spi = 0x1000 + rng.int(1, 0xffff);
    const out = esp.addOutbound({ spi, keymat, algorithm, esn: opts.esn });
    const inb = esp.addInbound({ spi, keymat, algorithm, esn: opts.esn, replayWindow: opts.window });
    return { esp, keymat, spi, out, inb };
  }

  function unprotect(esp: Esp, pkt: Uint8Array) {
    const b = esp.createBatch({ packets: 1, slotBytes: Math.max(256, pkt.length + 128) });
    b.addPacket(pkt);
    esp.unprotect(b);
    const r = { reason: b.reason(0), result: b.result(0), payload: b.result(0) >= 0 ? b.output(0).slice() : undefined, nh: b.nextHeader(0) };
    b.destroy();
    return r;
  }

  const seal = (p: Parameters<typeof espSealNode>[0], payload: Uint8Array) => espSealNode({ ...p, algorithm }, payload);

  describe(`${algorithm}: ESP outbound (RFC 4303 §2)`, () => {
    const combos = o.keyLengths.flatMap((k) => [[k, false], [k, true]] as const);
    it.each(combos)("key %i, ESN %s: the independent node:crypto ESP opens ours, byte for byte", async (keyLen, esn) => {
      const { esp, keymat, spi, out } = await pair({ keyLen, esn });
      esp.setSequence(out, esn ? 0xfffffff0n : 0n);
      for (let n = 0; n < 40; n++) {
        const inner = ipv6(40 + rng.int(0, 1400));
        const pkt = esp.protectOne(out, inner);
        const seq = esp.stats(out).sequence;
        const view = new DataView(pkt.buffer, pkt.byteOffset);
        expect(view.getUint32(0)).toBe(spi);
        expect(view.getUint32(4)).toBe(Number(seq & 0xffffffffn));
        expect(view.getBigUint64(8)).toBe(seq); // IV = 64-bit sequence number
        // RFC 4543: the payload is on the wire as it is; the others encrypt it.
        const wire = Buffer.from(pkt.subarray(16, 16 + inner.length));
        expect(wire.equals(Buffer.from(inner))).toBe(o.clear);
        const got = espOpenNode({ keymat, esn, seqHigh: Number(seq >> 32n), algorithm }, pkt);
        expect(Buffer.compare(got.payload, inner)).toBe(0);
        expect(got.nextHeader).toBe(41);
        expect(got.padLen).toBe((4 - ((inner.length + 2) % 4)) % 4);
        expect([...got.padding]).toEqual(Array.from({ length: got.padLen }, (_, i) => i + 1));
        expect((pkt.length - 16 - 16) % 4).toBe(0);
        expect(Buffer.compare(Buffer.from(seal({ spi, keymat, seq, esn }, inner)), Buffer.from(pkt))).toBe(0);
      }
      expect(esp.stats(out).packets).toBe(40n);
      expect(esp.stats(out).algorithm).toBe(algorithm);
    });

    it("TFC padding adds 1, 2, 3, … bytes and stays 4-byte aligned", async () => {
      const esp = await createEsp();
      const keymat = rng.bytes(o.keyLengths[0] + 4);
      const out = esp.addOutbound({ spi: 7, keymat, algorithm, tfcPadding: 8 });
      const got = espOpenNode({ keymat, algorithm }, esp.protectOne(out, ipv6(41)));
      expect(got.padLen).toBe(1 + 8);
      expect([...got.padding]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it("the counter never cycles: 2^32−1 is the last without ESN, 2^64−1 with it", async () => {
      for (const esn of [false, true]) {
        const { esp, out } = await pair({ esn });
        const last = esn ? 0xffffffffffffffffn : 0xffffffffn;
        esp.setSequence(out, last - 1n);
        esp.protectOne(out, ipv6(60));
        expect(esp.stats(out).spent).toBe(true);
        expect(() => esp.protectOne(out, ipv6(60))).toThrow(code("ERR_ESP_SEQ_EXHAUSTED"));
        expect(esp.stats(out).sequence).toBe(last);
      }
    });

    it("UDP encapsulation (RFC 3948) wraps it like AES-GCM", async () => {
      const esp = await createEsp();
      const keymat = rng.bytes(o.keyLengths[0] + 4);
      const out = esp.addOutbound({ spi: 0x4500, keymat, algorithm, encap: { sourcePort: 4500, destinationPort: 4500 } });
      esp.addInbound({ spi: 0x4500, keymat, algorithm });
      const inner = ipv6(100);
      const dgram = esp.protectOne(out, inner);
      const b = esp.createBatch({ packets: 1 });
      b.addPacket(dgram);
      expect(esp.demuxUdp(b, true)).toBe(1);
      expect(esp.unprotect(b)).toBe(1);
      expect(Buffer.compare(b.output(0), inner)).toBe(0);
      expect(Buffer.compare(espOpenNode({ keymat, algorithm }, dgram.subarray(8)).payload, inner)).toBe(0);
    });
  });

  describe(`${algorithm}: ESP inbound (RFC 4303 §3.4)`, () => {
    it("opens packets sealed by the independent node:crypto ESP, ESN and not, every key size", async () => {
      for (const esn of [false, true]) {
        for (const keyLen of o.keyLengths) {
          const { esp, keymat, spi, inb } = await pair({ keyLen, esn });
          for (let seq = 1; seq <= 20; seq++) {
            const inner = ipv6(40 + rng.int(0, 1400));
            const r = unprotect(esp, seal({ spi, keymat, seq, esn, iv: rng.bytes(8) }, inner));
            expect(r.reason).toBe("none");
            expect(Buffer.compare(r.payload!, inner)).toBe(0);
            expect(r.nh).toBe(41);
          }
          expect(esp.stats(inb).packets).toBe(20n);
        }
      }
    });

    it("ESN: infers the high-order bits across the 2^32 boundary (RFC 4303 App. A2)", async () => {
      const { esp, keymat, spi, inb } = await pair({ esn: true, window: 64 });
      const seqs = [1n, 0x80000000n, 0xfffffffbn, 0x100000003n, 0xfffffffen, 0x100000004n, 0x180000000n, 0x200000010n];
      for (const s of seqs) {
        const b = esp.createBatch({ packets: 1 });
        b.addPacket(seal({ spi, keymat, seq: s, esn: true }, ipv6(80)));
        expect(esp.unprotect(b), `seq ${s.toString(16)}`).toBe(1);
        expect(b.sequence(0)).toBe(s);
        b.destroy();
      }
      // Sealed with the wrong high bits (the AAD differs): integrity failure, nothing changes.
      const before = esp.snapshot(inb).slice();
      const r = unprotect(esp, seal({ spi, keymat, seq: 0x300000011n, esn: true }, ipv6(80)));
      expect(r.reason).toBe("integrity-failure");
      expectOnlyDropCounted(esp, inb, before);
    });

    it("dummy packets (next header 59) are dropped and counted (RFC 4303 §2.6)", async () => {
      const { esp, keymat, spi, inb } = await pair();
      const r = unprotect(esp, seal({ spi, keymat, seq: 1, nextHeader: 59 }, new Uint8Array(0)));
      expect(r.reason).toBe("dummy");
      expect(esp.stats(inb).drops.dummy).toBe(1n);
    });

    it("the window moves only after the ICV verified", async () => {
      const { esp, keymat, spi, inb } = await pair({ window: 32 });
      expect(unprotect(esp, seal({ spi, keymat, seq: 5 }, ipv6(60))).reason).toBe("none");
      const forged = seal({ spi, keymat, seq: 1000 }, ipv6(60));
      forged[30] ^= 1;
      expect(unprotect(esp, forged).reason).toBe("integrity-failure");
      expect(unprotect(esp, seal({ spi, keymat, seq: 3 }, ipv6(60))).reason).toBe("none");
      expect(unprotect(esp, seal({ spi, keymat, seq: 3 }, ipv6(60))).reason).toBe("replayed");
      expect(unprotect(esp, seal({ spi, keymat, seq: 1000 }, ipv6(60))).reason).toBe("none");
      expect(unprotect(esp, seal({ spi, keymat, seq: 968 }, ipv6(60))).reason).toBe("too-old");
      expect(esp.stats(inb).drops).toEqual({ replayed: 1n, "too-old": 1n, "integrity-failure": 1n });
    });

    it("packets of another algorithm under the same keymat and SPI fail integrity", async () => {
      const { esp, keymat, spi, inb } = await pair();
      const others = (["aes-gcm", "chacha20-poly1305", "aes-gmac"] as const).filter((a) => a !== algorithm);
      for (const other of others) {
        // The same keymat where it fits the other algorithm (ChaCha's 36 bytes are an AES-256 key ‖ salt).
        const km = other === "chacha20-poly1305" && keymat.length !== 36 ? rng.bytes(36) : keymat;
        const before = esp.snapshot(inb).slice();
        expect(unprotect(esp, espSealNode({ spi, keymat: km, seq: 9, algorithm: other }, ipv6(60))).reason, other).toBe("integrity-failure");
        expectOnlyDropCounted(esp, inb, before);
      }
    });
  });

  describe(`${algorithm}: ESP bad input: exact code, SA state byte-identical`, () => {
    it("truncation at every offset of a valid packet", async () => {
      for (const esn of [false, true]) {
        const { esp, keymat, spi, inb } = await pair({ esn });
        const good = seal({ spi, keymat, seq: 1, esn }, ipv6(61));
        for (let len = 0; len < good.length; len++) {
          const before = esp.snapshot(inb).slice();
          const r = unprotect(esp, good.subarray(0, len));
          const want = len < 8 ? "runt" : len < 16 + 2 + 16 ? "bad-length" : "integrity-failure";
          expect(r.reason, `length ${len}`).toBe(want);
          if (len >= 8) expectOnlyDropCounted(esp, inb, before);
          else expect(Buffer.compare(esp.snapshot(inb), before)).toBe(0);
        }
        expect(unprotect(esp, good).reason).toBe("none");
      }
    });

    it("every single-bit flip of a valid packet", async () => {
      for (const esn of [false, true]) {
        const { esp, keymat, spi, inb } = await pair({ window: 64, esn });
        const good = seal({ spi, keymat, seq: 77, esn }, ipv6(45));
        for (let bit = 0; bit < good.length * 8; bit++) {
          const p = good.slice();
          p[bit >> 3] ^= 0x80 >> (bit & 7);
          const before = esp.snapshot(inb).slice();
          const r = unprotect(esp, p);
          const seq = new DataView(p.buffer).getUint32(4);
          const want = bit < 32 ? "unknown-spi" : seq === 0 && !esn ? "bad-sequence" : "integrity-failure";
          expect(r.reason, `ESN ${esn} bit ${bit}`).toBe(want);
          if (want === "unknown-spi") expect(Buffer.compare(esp.snapshot(inb), before)).toBe(0);
          else expectOnlyDropCounted(esp, inb, before);
        }
        expect(unprotect(esp, good).reason).toBe("none");
      }
    });

    it("bad padding and pad length 255, authentic ICV: dropped, window unchanged", async () => {
      const { esp, keymat, spi, inb } = await pair();
      const cases: [string, Uint8Array][] = [
        ["padding 1,2,4", seal({ spi, keymat, seq: 1, padding: new Uint8Array([1, 2, 4]) }, ipv6(41))],
        ["padding 0", seal({ spi, keymat, seq: 2, padding: new Uint8Array([0]) }, ipv6(42))],
        ["padding 2,3", seal({ spi, keymat, seq: 3, padding: new Uint8Array([2, 3]) }, ipv6(40))],
        ["pad length 255", seal({ spi, keymat, seq: 4, padding: new Uint8Array(0), padLength: 255 }, ipv6(40))],
        ["pad length 41 of 40 bytes", seal({ spi, keymat, seq: 5, padding: new Uint8Array(0), padLength: 41 }, ipv6(40))],
      ];
      for (const [name, pkt] of cases) {
        const before = esp.snapshot(inb).slice();
        expect(unprotect(esp, pkt).reason, name).toBe("bad-padding");
        expectOnlyDropCounted(esp, inb, before);
      }
      // The same sequence numbers are still free: the window did not move.
      for (let seq = 1; seq <= 5; seq++) expect(unprotect(esp, seal({ spi, keymat, seq }, ipv6(40))).reason).toBe("none");
      expect(esp.stats(inb).drops["bad-padding"]).toBe(5n);
    });
  });

  describe(`${algorithm}: SA table`, () => {
    it("refuses wrong key and ICV lengths with named errors, changing nothing", async () => {
      const esp = await createEsp({ capacity: 4 });
      const allowed = new Set(o.keyLengths.map((k) => k + 4));
      for (const n of [0, 16, 20, 28, 32, 36, 40]) {
        if (allowed.has(n)) continue;
        expect(() => esp.addInbound({ spi: 6, keymat: rng.bytes(n), algorithm }), `keymat ${n}`).toThrow(code("ERR_KEY_LENGTH"));
      }
      const keymat = rng.bytes(o.keyLengths[0] + 4);
      for (const icv of [4, 8, 12, 20]) {
        expect(() => esp.addInbound({ spi: 6, keymat, algorithm, icvLength: icv }), `ICV ${icv}`).toThrow(code("ERR_TAG_LENGTH"));
        expect(() => esp.addOutbound({ spi: 6, keymat, algorithm, icvLength: icv }), `ICV ${icv}`).toThrow(code("ERR_TAG_LENGTH"));
      }
      expect(esp.size).toBe(0);
      expect(esp.addInbound({ spi: 6, keymat, algorithm, icvLength: 16 }).algorithm).toBe(algorithm);
    });

    it("removal zeroes the whole record, key material included", async () => {
      const { esp, out, inb } = await pair();
      const x = esp.core.x as unknown as { saPtr(i: number): number };
      for (const h of [out, inb]) {
        const p = x.saPtr(h.index);
        expect(esp.core.u8.subarray(p, p + 32).some((b) => b !== 0)).toBe(true);
        esp.remove(h);
        expect(esp.core.u8.subarray(p, p + esp.bytesPerSa).every((b) => b === 0)).toBe(true);
      }
    });

    it("protects and unprotects 20,000 packets in batches without growing wasm memory", async () => {
      const { esp, out } = await pair();
      const tx = esp.createBatch({ packets: 64 });
      const rx = esp.createBatch({ packets: 64 });
      const sizes = [40, 64, 576, 1420];
      let mem = 0;
      let ok = 0;
      const rounds = Math.ceil(20_000 / 64);
      const inners = sizes.map((s) => ipv6(s));
      for (let round = 0; round < rounds; round++) {
        tx.clear();
        rx.clear();
        for (let i = 0; i < 64; i++) tx.addPayload(out, inners[i & 3]);
        esp.protect(tx);
        for (let i = 0; i < 64; i++) rx.addPacket(tx.output(i));
        ok += esp.unprotect(rx);
        if (round === 1) mem = esp.core.x.memory.buffer.byteLength;
      }
      for (let i = 0; i < 64; i++) expect(Buffer.compare(rx.output(i), inners[i & 3])).toBe(0);
      expect(esp.core.x.memory.buffer.byteLength).toBe(mem);
      expect(ok).toBe(64 * rounds);
    });
  });
}
