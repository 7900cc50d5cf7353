// Fuzzing (fast-check) of every entry point that takes bytes from the network or a file, with
// random inputs and mutations of real packets. Properties:
//   - only named errors escape (IpsecError with a code); the wasm instance never traps;
//   - a rejected input leaves every SA (record and replay window) and the reassembly state
//     byte-identical but for the one drop counter it increments.
// `npm test` runs a CI-sized budget; `npm run fuzz` runs FUZZ_RUNS (1,000,000 by default there)
// inputs per target and prints inputs/s. IPSEC6IN4_SEED replays a run.
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { createEsp, DROP_REASONS, type Esp, type SaHandle } from "../src/esp.js";
import { createDataplane, type Dataplane } from "../src/pipeline.js";
import { Reassembler } from "../src/reassembly.js";
import { loadConfig, ConfigError } from "../src/config/index.js";
import { IpsecError } from "../src/errors.js";
import { newCore, type Core } from "../src/core/wasm.js";
import { espSealNode } from "../bench/esp-node-crypto.mjs";
import { seedFromEnv } from "./helpers/prng.js";
import { ipv4HeaderChecksum } from "../src/reassembly.js";
import { readCapture, writePcap, writePcapng } from "../src/decode/pcap.js";
import { parseEspSaFile, parseSaSpec } from "../src/decode/keys.js";
import { parseIkev2DecryptionTable } from "../src/ike/wireshark-keys.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);
const SEED = seedFromEnv(0xf022);
const report: string[] = [];
afterAll(() => {
  if (report.length) console.log(`fuzz (seed ${SEED}, ${RUNS} inputs per target):\n  ${report.join("\n  ")}`);
});

function timed(name: string, prop: fc.IProperty<unknown> | fc.IAsyncProperty<unknown>) {
  const t0 = performance.now();
  fc.assert(prop as fc.IProperty<unknown>, { numRuns: RUNS, seed: SEED });
  const s = (performance.now() - t0) / 1000;
  report.push(`${name.padEnd(28)} ${RUNS} inputs, ${Math.round(RUNS / s).toLocaleString("en-US")} inputs/s, 0 findings`);
}

/** A mutation of a real packet: bit flips, byte sets, truncation, extension, splices. */
function mutated(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  return fc
    .tuple(
      fc.integer({ min: 0, max: seeds.length - 1 }),
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
          fc.record({ op: fc.constant("set" as const), at: fc.nat(), v: fc.integer({ min: 0, max: 255 }) }),
          fc.record({ op: fc.constant("cut" as const), at: fc.nat() }),
          fc.record({ op: fc.constant("grow" as const), extra: fc.uint8Array({ maxLength: 64 }) }),
        ),
        { minLength: 1, maxLength: 4 },
      ),
    )
    .map(([i, ops]) => {
      let p = seeds[i].slice();
      for (const o of ops) {
        if (o.op === "flip" && p.length) p[o.at % p.length] ^= 1 << o.bit;
        else if (o.op === "set" && p.length) p[o.at % p.length] = o.v;
        else if (o.op === "cut") p = p.slice(0, p.length ? o.at % p.length : 0);
        else if (o.op === "grow") p = Uint8Array.from([...p, ...o.extra]);
      }
      return p;
    });
}

const bytesOrMutation = (seeds: Uint8Array[], max = 2000) => fc.oneof(fc.uint8Array({ maxLength: max }), mutated(seeds));

/** Snapshot of an SA without its drop counters (the one thing a rejected packet may change). */
function saState(esp: Esp, sa: SaHandle): Uint8Array {
  const snap = esp.snapshot(sa);
  const x = esp.core.x as unknown as Record<string, WebAssembly.Global>;
  const a = x.SA_DROPS.value as number;
  const b = x.SA_TUNNEL.value as number;
  snap.fill(0, a, b);
  return snap;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function ipv4(src: number[], dst: number[], proto: number, body: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + body.length);
  p.set([0x45, 0, p.length >> 8, p.length & 0xff, 0, 1, 0, 0, 64, proto, 0, 0, ...src, ...dst]);
  p.set(body, 20);
  const c = ipv4HeaderChecksum(p.subarray(0, 20));
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}

function ipv6(len: number): Uint8Array {
  const p = new Uint8Array(40 + len);
  p.set([0x60, 0, 0, 0, len >> 8, len & 0xff, 59, 64]);
  p.set([0x20, 1, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10], 8);
  p.set([0x20, 1, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20], 24);
  return p;
}

// A long run (npm run fuzz) needs more than the suite's default timeout.
describe("fuzz", { timeout: Math.max(300_000, RUNS * 3) }, () => {
  it("ESP inbound (Esp.unprotect)", async () => {
    const esp = await createEsp({ capacity: 4 });
    const keymat = new Uint8Array(20).fill(7);
    const inb = esp.addInbound({ spi: 0x1234, keymat, replayWindow: 64 });
    const esn = esp.addInbound({ spi: 0x5678, keymat, replayWindow: 1024, esn: true });
    const seeds = [1, 2, 40, 100, 1300].flatMap((n, i) => [
      espSealNode({ spi: 0x1234, keymat, seq: 1000 + i }, ipv6(n)),
      espSealNode({ spi: 0x5678, keymat, seq: 5000 + i, esn: true }, ipv6(n)),
    ]);
    const batch = esp.createBatch({ packets: 1, slotBytes: 4096 });
    timed(
      "esp-inbound",
      fc.property(bytesOrMutation(seeds), (pkt) => {
        const before = [saState(esp, inb), saState(esp, esn)];
        batch.clear();
        batch.addPacket(pkt);
        esp.unprotect(batch);
        const r = batch.result(0);
        if (r < 0) {
          expect(DROP_REASONS).toContain(batch.reason(0));
          expect(sameBytes(saState(esp, inb), before[0]) && sameBytes(saState(esp, esn), before[1])).toBe(true);
        }
      }),
    );
  });

  it("the inbound pipeline (outer IPv4 → ESP → inner checks), with reassembly state", async () => {
    const dp: Dataplane = await createDataplane({ sas: 4, tunnels: 2 });
    const keymat = new Uint8Array(20).fill(9);
    dp.addTunnel({ name: "t1", local: "192.0.2.2", remote: "192.0.2.1", address: "2001:db8:ffff::2/64", routes: ["2001:db8:1::/48"], allow: ["2001:db8:1::/48"] });
    const inb = dp.esp.addInbound({ spi: 0x4242, keymat, replayWindow: 64 });
    dp.bindSa(inb, "t1");
    const tep1 = [192, 0, 2, 1];
    const tep2 = [192, 0, 2, 2];
    const seeds = [0, 8, 100, 1200].flatMap((n, i) => [
      ipv4(tep1, tep2, 50, espSealNode({ spi: 0x4242, keymat, seq: 100 + i }, ipv6(n))),
      ipv4(tep1, tep2, 41, ipv6(n)),
      ipv4(tep1, tep2, 17, Uint8Array.from([0x11, 0x94, 0x11, 0x94, 0, 9, 0, 0, 0xff])),
    ]);
    const batch = dp.createBatch({ packets: 4, slotBytes: 4096 });
    timed(
      "pipeline-inbound",
      fc.property(bytesOrMutation(seeds), (pkt) => {
        const sa = saState(dp.esp, inb);
        const held = [dp.reassembler.bytesHeld, dp.reassembler.pending];
        batch.clear();
        batch.addPacket(pkt);
        dp.inbound(batch, 0);
        const v = batch.verdict(0);
        if (v === "dropped") {
          expect(DROP_REASONS).toContain(batch.reason(0));
          expect(sameBytes(saState(dp.esp, inb), sa)).toBe(true);
          expect([dp.reassembler.bytesHeld, dp.reassembler.pending]).toEqual(held);
        }
      }),
    );
  });

  it("IPv4 / IPv6 / extension-header parsers and UDP demultiplexing (wasm)", async () => {
    const core: Core = await newCore();
    const x = core.x as unknown as Record<string, (...a: number[]) => number>;
    const buf = core.alloc(4096);
    const seeds = [ipv6(0), ipv6(64), ipv4([1, 2, 3, 4], [5, 6, 7, 8], 17, new Uint8Array(30))];
    timed(
      "ipv4/ipv6 parsers",
      fc.property(bytesOrMutation(seeds, 4000), (pkt) => {
        core.u8.set(pkt, buf);
        const copy = core.u8.slice(buf, buf + pkt.length);
        for (const f of ["ipv4Check", "ipv6Check", "ipv6UpperLayer"]) {
          const r = x[f](buf, pkt.length);
          expect(Number.isInteger(r)).toBe(true);
          expect(r <= 0 || f === "ipv6UpperLayer").toBe(true);
        }
        expect(sameBytes(core.u8.subarray(buf, buf + pkt.length), copy)).toBe(true);
      }),
    );
    const esp = await createEsp({ capacity: 1 });
    const b = esp.createBatch({ packets: 1, slotBytes: 4096 });
    timed(
      "udp-encap demux",
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (pkt, hdr) => {
        b.clear();
        b.addPacket(pkt);
        esp.demuxUdp(b, hdr);
        const r = b.result(0);
        if (r < 0) expect(["runt", "bad-udp"]).toContain(b.reason(0));
        else expect(["esp", "ike", "keepalive"]).toContain(b.kind(0));
      }),
    );
  });

  it("outer IPv4 fragment reassembly", () => {
    const r = new Reassembler({ maxBytes: 1 << 16, maxDatagrams: 64, timeoutMs: 1000 });
    const frag = fc.record({
      id: fc.integer({ min: 0, max: 3 }),
      off: fc.integer({ min: 0, max: 0x1fff }),
      mf: fc.boolean(),
      len: fc.integer({ min: 0, max: 1500 }),
      t: fc.integer({ min: 0, max: 5000 }),
    });
    timed(
      "ipv4 reassembly",
      fc.property(frag, (f) => {
        const body = new Uint8Array(f.len);
        const p = ipv4([192, 0, 2, 1], [192, 0, 2, 2], 50, body);
        p[4] = 0;
        p[5] = f.id;
        const fo = (f.mf ? 0x2000 : 0) | f.off;
        p[6] = fo >> 8;
        p[7] = fo & 0xff;
        const res = r.push(p, f.t);
        expect(["complete", "pending", "dropped"]).toContain(res.status);
        expect(r.bytesHeld).toBeLessThanOrEqual(r.maxBytes);
        expect(r.pending).toBeLessThanOrEqual(r.maxDatagrams);
      }),
    );
  });

  it("capture readers (pcap, pcapng) and key files (esp_sa, ikev2_decryption_table, --sa)", () => {
    const frames = [ipv4([192, 0, 2, 1], [192, 0, 2, 2], 50, new Uint8Array(60)), ipv6(20)];
    const seeds = [writePcap(frames, 101), writePcapng(frames.map((d) => ({ data: d, linktype: 101 })))];
    const named = (e: unknown) => {
      if (!(e instanceof IpsecError) || !/^ERR_/.test(e.code)) throw e;
    };
    timed(
      "pcap/pcapng readers",
      fc.property(bytesOrMutation(seeds, 400), (file) => {
        try {
          for (const f of readCapture(file)) expect(f.data.length).toBeLessThanOrEqual(file.length);
        } catch (e) {
          named(e);
        }
      }),
    );
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    const lines = [
      `"IPv4","192.0.2.1","192.0.2.2","0x00001001","AES-GCM with 16 octet ICV [RFC4106]","0x${"ab".repeat(20)}","NULL",""`,
      `00112233445566778899aabbccddeeff,0011223344556677,${"11".repeat(36)},${"22".repeat(36)},"AES-GCM-256 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"`,
      `spi=0x00001001,enc=aes128gcm16,key=0x${"cd".repeat(20)},esn=1`,
    ].map((l) => enc.encode(l));
    timed(
      "key files and --sa specs",
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), mutated(lines).map((b) => dec.decode(b))), (t) => {
        for (const parse of [() => parseEspSaFile(t, "fuzz"), () => parseIkev2DecryptionTable(t), () => parseSaSpec(t)]) {
          try {
            parse();
          } catch (e) {
            named(e);
          }
        }
      }),
    );
  });

  it("configuration parser (swanctl.conf and JSON text)", () => {
    const text = `connections {\n  c { local_addrs = 192.0.2.1\n remote_addrs = 192.0.2.2\n local { auth = psk }\n remote { auth = psk }\n children { n { mode = transport\n local_ts = dynamic[41]\n remote_ts = dynamic[41] } } }\n}\nsecrets { ike-1 { secret = abc } }\ntunnels { t { local = 192.0.2.1\n remote = 192.0.2.2\n address = 2001:db8::1/64 } }\n`;
    const enc = new TextEncoder();
    const dec = new TextDecoder();
    timed(
      "config parser",
      fc.property(fc.oneof(fc.string({ maxLength: 400 }), mutated([enc.encode(text), enc.encode(JSON.stringify({ tunnels: { t: { local: "192.0.2.1" } } }))]).map((b) => dec.decode(b))), (s) => {
        try {
          loadConfig(s, { file: "fuzz.conf" });
        } catch (e) {
          expect(e).toBeInstanceOf(IpsecError);
          expect(e instanceof ConfigError || typeof (e as IpsecError).code === "string").toBe(true);
        }
      }),
    );
  });
});
