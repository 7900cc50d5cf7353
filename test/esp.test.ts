// ESP (RFC 4303 + RFC 4106) in wasm, cross-checked against an independent ESP written over
// node:crypto (bench/esp-node-crypto.mjs), and every bad-input path asserting its exact
// drop reason with the SA's state byte-identical before and after.
import { createCipheriv } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createEsp, type Esp, type SaHandle } from "../src/esp.js";
import { espOpenNode, espSealNode } from "../bench/esp-node-crypto.mjs";
import { Prng } from "./helpers/prng.js";
import { expectOnlyDropCounted } from "./helpers/esp-suite.js";

const rng = new Prng(0x4303);
const code = (c: string) => expect.objectContaining({ code: c });

function ipv6(len: number): Uint8Array {
  const p = rng.bytes(Math.max(len, 40));
  p[0] = 0x60;
  return p;
}

async function pair(opts: { keyLen?: number; icv?: number; esn?: boolean; window?: number } = {}) {
  const esp = await createEsp({ capacity: 16 });
  const keymat = rng.bytes((opts.keyLen ?? 16) + 4);
  const spi = 0x1000 + rng.int(1, 0xffff);
  const out = esp.addOutbound({ spi, keymat, icvLength: opts.icv, esn: opts.esn });
  const inb = esp.addInbound({ spi, keymat, icvLength: opts.icv, esn: opts.esn, replayWindow: opts.window });
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

describe("ESP outbound (RFC 4303 §2, RFC 4106)", () => {
  it.each([
    [16, 16, false], [24, 12, false], [32, 8, false], [16, 16, true], [32, 12, true],
  ])("key %i, ICV %i, ESN %s: the independent node:crypto ESP opens ours, byte for byte", async (keyLen, icv, esn) => {
    const { esp, keymat, spi, out } = await pair({ keyLen, icv, esn });
    for (let n = 0; n < 40; n++) {
      const inner = ipv6(40 + rng.int(0, 1400));
      const pkt = esp.protectOne(out, inner);
      const view = new DataView(pkt.buffer, pkt.byteOffset);
      expect(view.getUint32(0)).toBe(spi);
      expect(view.getUint32(4)).toBe(n + 1); // RFC 4303 §3.3.3: first packet has seq 1
      expect(view.getBigUint64(8)).toBe(BigInt(n + 1)); // IV = 64-bit sequence number
      const got = espOpenNode({ keymat, icv, esn, seqHigh: 0 }, pkt);
      expect(Buffer.compare(got.payload, inner)).toBe(0);
      expect(got.nextHeader).toBe(41);
      expect(got.padLen).toBe((4 - ((inner.length + 2) % 4)) % 4);
      expect([...got.padding]).toEqual(Array.from({ length: got.padLen }, (_, i) => i + 1));
      expect((pkt.length - 16 - icv) % 4).toBe(0);
      // And the same bytes as the reference sealer given the same inputs.
      expect(Buffer.compare(Buffer.from(espSealNode({ spi, keymat, seq: n + 1, icv, esn }, inner)), Buffer.from(pkt))).toBe(0);
    }
    expect(esp.stats(out).packets).toBe(40n);
  });

  it("TFC padding adds 1, 2, 3, … bytes and stays 4-byte aligned", async () => {
    const esp = await createEsp();
    const keymat = rng.bytes(20);
    const out = esp.addOutbound({ spi: 7, keymat, tfcPadding: 8 });
    const got = espOpenNode({ keymat }, esp.protectOne(out, ipv6(41)));
    expect(got.padLen).toBe(1 + 8);
    expect([...got.padding]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("the counter never cycles: 2^32−1 is the last without ESN, 2^64−1 with it; then the SA is spent", async () => {
    for (const esn of [false, true]) {
      const { esp, out } = await pair({ esn });
      const last = esn ? 0xffffffffffffffffn : 0xffffffffn;
      esp.setSequence(out, last - 1n);
      const pkt = esp.protectOne(out, ipv6(60));
      expect(new DataView(pkt.buffer, pkt.byteOffset).getUint32(4)).toBe(0xffffffff);
      expect(esp.stats(out).spent).toBe(true);
      const before = esp.snapshot(out).slice();
      expect(() => esp.protectOne(out, ipv6(60))).toThrow(code("ERR_ESP_SEQ_EXHAUSTED"));
      const after = esp.snapshot(out);
      // Only the drop counter moved.
      expect(esp.stats(out).drops["sequence-exhausted"]).toBe(1n);
      expect(esp.stats(out).sequence).toBe(last);
      expect(after.length).toBe(before.length);
    }
  });

  it("refuses a packet with no room, an inbound SA, or a removed SA, with named codes", async () => {
    const { esp, out, inb } = await pair();
    expect(() => esp.protectOne(inb, ipv6(60))).toThrow(code("ERR_ESP_BAD_SA"));
    const b = esp.createBatch({ packets: 2, slotBytes: 256 });
    expect(() => b.addPayload(out, ipv6(200))).toThrow(code("ERR_BATCH_FULL"));
    esp.remove(out);
    expect(() => esp.protectOne(out, ipv6(60))).toThrow(code("ERR_ESP_BAD_SA"));
  });
});

describe("ESP inbound (RFC 4303 §3.4)", () => {
  it("opens packets sealed by the independent node:crypto ESP, ESN and not, every ICV size", async () => {
    for (const esn of [false, true]) {
      for (const icv of [8, 12, 16]) {
        const { esp, keymat, spi, inb } = await pair({ icv, esn });
        for (let seq = 1; seq <= 20; seq++) {
          const inner = ipv6(40 + rng.int(0, 1400));
          const r = unprotect(esp, espSealNode({ spi, keymat, seq, icv, esn, iv: rng.bytes(8) }, inner));
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
      b.addPacket(espSealNode({ spi, keymat, seq: s, esn: true }, ipv6(80)));
      expect(esp.unprotect(b), `seq ${s.toString(16)}`).toBe(1);
      expect(b.sequence(0)).toBe(s);
      b.destroy();
    }
    // A packet sealed with the wrong high bits fails integrity, and changes nothing.
    const before = esp.snapshot(inb).slice();
    const r = unprotect(esp, espSealNode({ spi, keymat, seq: 0x300000011n, esn: true }, ipv6(80)));
    expect(r.reason).toBe("integrity-failure");
    expectOnlyDropCounted(esp, inb, before);
  });

  it("dummy packets (next header 59) are dropped and counted (RFC 4303 §2.6)", async () => {
    const { esp, keymat, spi, inb } = await pair();
    const r = unprotect(esp, espSealNode({ spi, keymat, seq: 1, nextHeader: 59 }, new Uint8Array(0)));
    expect(r.reason).toBe("dummy");
    expect(esp.stats(inb).drops.dummy).toBe(1n);
    expect(esp.drops().dummy).toBe(1n);
  });

  it("the window moves only after the ICV verified", async () => {
    const { esp, keymat, spi, inb } = await pair({ window: 32 });
    expect(unprotect(esp, espSealNode({ spi, keymat, seq: 5 }, ipv6(60))).reason).toBe("none");
    // A forgery far ahead must not slide the window past seq 3.
    const forged = espSealNode({ spi, keymat, seq: 1000 }, ipv6(60));
    forged[30] ^= 1;
    expect(unprotect(esp, forged).reason).toBe("integrity-failure");
    expect(unprotect(esp, espSealNode({ spi, keymat, seq: 3 }, ipv6(60))).reason).toBe("none");
    expect(unprotect(esp, espSealNode({ spi, keymat, seq: 3 }, ipv6(60))).reason).toBe("replayed");
    expect(unprotect(esp, espSealNode({ spi, keymat, seq: 1000 }, ipv6(60))).reason).toBe("none");
    expect(unprotect(esp, espSealNode({ spi, keymat, seq: 968 }, ipv6(60))).reason).toBe("too-old");
    expect(unprotect(esp, espSealNode({ spi, keymat, seq: 969 }, ipv6(60))).reason).toBe("none");
    expect(esp.stats(inb).drops).toEqual({ replayed: 1n, "too-old": 1n, "integrity-failure": 1n });
  });

  it("a replay window of 0 accepts replays only when configured so", async () => {
    const { esp, keymat, spi } = await pair({ window: 0 });
    const p = espSealNode({ spi, keymat, seq: 9 }, ipv6(60));
    expect(unprotect(esp, p).reason).toBe("none");
    expect(unprotect(esp, p).reason).toBe("none");
    await expect(pair({ window: 48 })).rejects.toThrow(code("ERR_REPLAY_WINDOW"));
    await expect(pair({ window: 1 << 17 })).rejects.toThrow(code("ERR_REPLAY_WINDOW"));
  });
});

describe("ESP bad input: exact code, SA state byte-identical", () => {
  it("truncation at every offset of a valid packet", async () => {
    for (const icv of [8, 16]) {
      const { esp, keymat, spi, inb } = await pair({ icv });
      const good = espSealNode({ spi, keymat, seq: 1, icv }, ipv6(61));
      for (let len = 0; len < good.length; len++) {
        const before = esp.snapshot(inb).slice();
        const r = unprotect(esp, good.subarray(0, len));
        const want = len < 8 ? "runt" : len < 16 + 2 + icv ? "bad-length" : "integrity-failure";
        expect(r.reason, `length ${len}`).toBe(want);
        if (len >= 8) expectOnlyDropCounted(esp, inb, before);
        else expect(Buffer.compare(esp.snapshot(inb), before)).toBe(0);
      }
      expect(unprotect(esp, good).reason).toBe("none");
    }
  });

  it("every single-bit flip of a valid packet", async () => {
    const { esp, keymat, spi, inb } = await pair({ window: 64 });
    const good = espSealNode({ spi, keymat, seq: 77 }, ipv6(45));
    let flips = 0;
    for (let bit = 0; bit < good.length * 8; bit++) {
      const p = good.slice();
      p[bit >> 3] ^= 0x80 >> (bit & 7);
      const before = esp.snapshot(inb).slice();
      const r = unprotect(esp, p);
      const seq = new DataView(p.buffer).getUint32(4);
      const want = bit < 32 ? "unknown-spi" : seq === 0 ? "bad-sequence" : "integrity-failure";
      expect(r.reason, `bit ${bit}`).toBe(want);
      if (want === "unknown-spi") expect(Buffer.compare(esp.snapshot(inb), before)).toBe(0);
      else expectOnlyDropCounted(esp, inb, before);
      flips++;
    }
    expect(flips).toBe(good.length * 8);
    expect(unprotect(esp, good).reason).toBe("none");
  });

  it("bad padding and pad length 255, authentic ICV: dropped, window unchanged", async () => {
    const { esp, keymat, spi, inb } = await pair();
    const cases: [string, Uint8Array][] = [
      ["padding 1,2,4", espSealNode({ spi, keymat, seq: 1, padding: new Uint8Array([1, 2, 4]) }, ipv6(41))],
      ["padding 0", espSealNode({ spi, keymat, seq: 2, padding: new Uint8Array([0]) }, ipv6(42))],
      ["padding 2,3", espSealNode({ spi, keymat, seq: 3, padding: new Uint8Array([2, 3]) }, ipv6(40))],
    ];
    // Pad length 255 with only 40 bytes of payload: build the plaintext by hand.
    const p255 = espSealNode({ spi, keymat, seq: 4, padding: new Uint8Array(0) }, ipv6(42));
    cases.push(["pad length 255", forgePadLen(keymat, spi, 4, 255)]);
    for (const [name, pkt] of cases) {
      const before = esp.snapshot(inb).slice();
      expect(unprotect(esp, pkt).reason, name).toBe("bad-padding");
      expectOnlyDropCounted(esp, inb, before);
    }
    expect(unprotect(esp, p255).reason).toBe("none");
    expect(esp.stats(inb).drops["bad-padding"]).toBe(4n);
  });

  it("unknown SPI and SPI 0", async () => {
    const { esp, keymat } = await pair();
    expect(unprotect(esp, espSealNode({ spi: 0xdead, keymat, seq: 1 }, ipv6(40))).reason).toBe("unknown-spi");
    expect(unprotect(esp, espSealNode({ spi: 0, keymat, seq: 1 }, ipv6(40))).reason).toBe("unknown-spi");
    expect(esp.drops()["unknown-spi"]).toBe(2n);
    expect(() => esp.unprotectOne(espSealNode({ spi: 0xdead, keymat, seq: 1 }, ipv6(40)))).toThrow(code("ERR_ESP_NO_SA"));
  });
});

/** An authentic packet whose pad-length byte claims more padding than there is payload. */
function forgePadLen(keymat: Uint8Array, spi: number, seq: number, padLen: number): Uint8Array {
  const body = new Uint8Array(42); // 40 bytes of "IPv6", pad length byte, next header 41
  body.set(ipv6(40));
  body[40] = padLen;
  body[41] = 41;
  return sealRaw(keymat, spi, seq, body);
}

function sealRaw(keymat: Uint8Array, spi: number, seq: number, plaintext: Uint8Array): Uint8Array {
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32BE(spi, 0);
  hdr.writeUInt32BE(seq, 4);
  hdr.writeBigUInt64BE(BigInt(seq), 8);
  const c = createCipheriv("aes-128-gcm", keymat.subarray(0, 16), Buffer.concat([keymat.subarray(16), hdr.subarray(8)]));
  c.setAAD(hdr.subarray(0, 8));
  return new Uint8Array(Buffer.concat([hdr, c.update(plaintext), c.final(), c.getAuthTag()]));
}

describe("SA table", () => {
  it("installs 100,000 SAs, finds each by SPI, removes them zeroing key material", async () => {
    const esp = await createEsp({ capacity: 100_000 });
    const keymat = rng.bytes(20);
    const hs: SaHandle[] = [];
    for (let i = 0; i < 100_000; i++) hs.push(esp.addInbound({ spi: 0x10000 + i * 7, keymat, replayWindow: 32 }));
    expect(esp.size).toBe(100_000);
    for (let i = 0; i < 100_000; i += 997) expect(esp.lookup(0x10000 + i * 7)).toBe(hs[i]);
    expect(esp.lookup(0x10000 + 3)).toBeUndefined();
    expect(() => esp.addInbound({ spi: 1, keymat })).toThrow(code("ERR_SA_TABLE_FULL"));
    const x = esp.core.x as unknown as { saPtr(i: number): number };
    const p = x.saPtr(hs[5].index);
    esp.remove(hs[5]);
    expect(esp.core.u8.subarray(p, p + esp.bytesPerSa).every((b) => b === 0)).toBe(true);
    expect(esp.lookup(0x10000 + 5 * 7)).toBeUndefined();
    for (let i = 0; i < 100_000; i += 1009) if (i !== 5) expect(esp.lookup(0x10000 + i * 7)).toBe(hs[i]);
  });

  it("refuses duplicate inbound SPIs, SPI 0, bad keys and ICVs with named errors, changing nothing", async () => {
    const esp = await createEsp({ capacity: 4 });
    const keymat = rng.bytes(20);
    esp.addInbound({ spi: 5, keymat });
    expect(() => esp.addInbound({ spi: 5, keymat })).toThrow(code("ERR_SPI_IN_USE"));
    expect(() => esp.addInbound({ spi: 0, keymat })).toThrow(code("ERR_INPUT_TYPE"));
    expect(() => esp.addInbound({ spi: 6, keymat: rng.bytes(16) })).toThrow(code("ERR_KEY_LENGTH"));
    expect(() => esp.addInbound({ spi: 6, keymat, icvLength: 4 })).toThrow(code("ERR_TAG_LENGTH"));
    expect(esp.size).toBe(1);
    for (let i = 0; i < 3; i++) esp.addOutbound({ spi: 5, keymat });
    expect(esp.size).toBe(4);
  });
});

describe("algorithms (RFC 4106 default; RFC 7634 and RFC 4543 in esp-chacha/aes-gmac tests)", () => {
  it("AES-GCM is the default; the record size does not depend on the algorithm", async () => {
    const { esp, out, inb } = await pair();
    expect([out.algorithm, inb.algorithm, esp.stats(out).algorithm]).toEqual(["aes-gcm", "aes-gcm", "aes-gcm"]);
    expect(esp.bytesPerSa).toBe((esp.core.x as unknown as Record<string, WebAssembly.Global>).SA_KEY_BYTES.value as number + 336); // SPI … drop counters, tunnel, selectors, next outbound SA
  });

  it("the original saInstall ABI still installs AES-GCM SAs (saInstallAlg with ALG_AES_GCM)", async () => {
    const esp = await createEsp({ capacity: 4 });
    const x = esp.core.x as unknown as {
      saInstall(i: number, spi: number, key: number, keyLen: number, icv: number, inbound: number, esn: number, w: number): number;
      saAlg(i: number): number;
    };
    const keymat = rng.bytes(20);
    const kp = esp.core.alloc(48);
    esp.core.u8.set(keymat, kp);
    expect(x.saInstall(3, 0x77, kp, 16, 12, 1, 0, 64)).toBe(0);
    expect(x.saAlg(3)).toBe(0);
    expect(x.saInstall(2, 0x78, kp, 16, 4, 1, 0, 64)).toBe(-4);
    esp.core.free(kp, 48);
    const b = esp.createBatch({ packets: 1 });
    const inner = ipv6(90);
    b.addPacket(espSealNode({ spi: 0x77, keymat, seq: 1, icv: 12 }, inner));
    expect(esp.unprotect(b)).toBe(1);
    expect(Buffer.compare(b.output(0), inner)).toBe(0);
  });
});

describe("batches", () => {
  it("protect and unprotect 100,000 packets in batches without growing wasm memory", async () => {
    const { esp, out } = await pair();
    const tx = esp.createBatch({ packets: 64 });
    const rx = esp.createBatch({ packets: 64 });
    const inner = ipv6(500);
    let mem = 0;
    let ok = 0;
    const rounds = Math.ceil(100_000 / 64);
    for (let round = 0; round < rounds; round++) {
      tx.clear();
      rx.clear();
      for (let i = 0; i < 64; i++) tx.addPayload(out, inner);
      esp.protect(tx);
      for (let i = 0; i < 64; i++) rx.addPacket(tx.output(i));
      ok += esp.unprotect(rx);
      if (round === 1) mem = esp.core.x.memory.buffer.byteLength;
    }
    expect(esp.core.x.memory.buffer.byteLength).toBe(mem);
    expect(ok).toBe(64 * rounds);
  });
});

describe("UDP encapsulation (RFC 3948)", () => {
  it("wraps outbound ESP in UDP with checksum 0 and demultiplexes ESP, IKE and keepalives", async () => {
    const esp = await createEsp();
    const keymat = rng.bytes(20);
    const out = esp.addOutbound({ spi: 0x4500, keymat, encap: { sourcePort: 4500, destinationPort: 4500 } });
    esp.addInbound({ spi: 0x4500, keymat });
    const inner = ipv6(100);
    const dgram = esp.protectOne(out, inner);
    const v = new DataView(dgram.buffer, dgram.byteOffset);
    expect([v.getUint16(0), v.getUint16(2), v.getUint16(4), v.getUint16(6)]).toEqual([4500, 4500, dgram.length, 0]);
    expect(v.getUint32(8)).toBe(0x4500);
    const b = esp.createBatch({ packets: 6 });
    b.addPacket(dgram); // whole datagram, header first
    const ike = new Uint8Array([0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const udp = (payload: Uint8Array, lenField = payload.length + 8) => {
      const d = new Uint8Array(8 + payload.length);
      new DataView(d.buffer).setUint16(4, lenField);
      d.set(payload, 8);
      return d;
    };
    b.addPacket(udp(ike));
    b.addPacket(udp(new Uint8Array([0xff])));
    b.addPacket(udp(new Uint8Array([1, 2, 3])));
    b.addPacket(udp(new Uint8Array(20), 200)); // UDP length beyond the buffer
    b.addPacket(new Uint8Array(5)); // shorter than a UDP header
    expect(esp.demuxUdp(b, true)).toBe(1);
    expect([b.kind(0), b.kind(1), b.kind(2)]).toEqual(["esp", "ike", "keepalive"]);
    expect([...b.payload(1)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect([b.reason(3), b.reason(4), b.reason(5)]).toEqual(["runt", "bad-udp", "runt"]);
  });
});
