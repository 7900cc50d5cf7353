// The packet decoder (src/decode/) and its CLI commands, without external tools: captures
// are made with our own encap (the Dataplane outbound pipeline) and hand-built packets;
// test/decode.interop.test.ts checks the same decoder against scapy and tshark.
//
//  1. capture files: pcap (both byte orders, µs and ns), pcapng (several interfaces, tsresol),
//     every link type; truncated files are named errors
//  2. layers: ESP raw and in UDP 4500, keepalive, non-ESP marker + IKEv2, clear 6in4, outer
//     fragments reassembled, IPv6 extension headers, TCP/UDP/ICMPv6 checksums, field spans
//  3. keys: esp_sa lines good and bad (with line numbers), --sa specs, --sa precedence
//  4. ESN: high bits inferred packet by packet across 2^32 from the given start; > 2^53 as text
//  5. --tunnel verdicts: accept, spoofed outer/inner sources, ingress prefix, replay,
//     clear text on a protected tunnel, outbound, unknown SPI; and decode mode's "ok"
//  6. CLI: JSON Lines shape, exit statuses and named errors, encap
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createDecoder, type DecodedPacket, type DecodeOptions } from "../src/decode/decoder.js";
import { encapCapture } from "../src/decode/encap.js";
import { KeyStore, parseEspSaFile, parseSaSpec } from "../src/decode/keys.js";
import { fieldSpans, sum16 } from "../src/decode/layers.js";
import { readCapture, writePcap, writePcapng } from "../src/decode/pcap.js";
import { packetJson, summarize } from "../src/decode/summary.js";
import { setKeystreamProvider } from "../src/core/keystream.js";
import { nodeKeystreamProvider } from "../src/core/node-keystream.js";
import { espSealNode } from "../bench/esp-node-crypto.mjs";
import { encodeIkeMessage, type IkeSaKeys } from "../src/ike/message.js";
import { formatIkev2DecryptionTable } from "../src/ike/wireshark-keys.js";
import { fieldSpans as spansOf } from "../src/decode/layers.js";
import { inetChecksum } from "./helpers/pcap.js";
import { Prng } from "./helpers/prng.js";
import { cat, fragmentIpv4, hex, icmpv6Echo, ikeSaInit, ipv4Wrap, ipv6Packet, linkWrap, runCli, udp4, udp6 } from "./fixtures/decode/packets.js";

const rng = new Prng(0xdec0de);
const A = "192.0.2.1"; // the peer (sends)
const B = "192.0.2.2"; // the local endpoint (receives)
const IN_SRC = "2001:db8:1::1";
const IN_DST = "2001:db8:2::1";
const KEY = "0x" + hex(rng.bytes(20));
const SPEC = `spi=0x00001001,enc=aes128gcm16,key=${KEY}`;
const dir = mkdtempSync(join(tmpdir(), "decode-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keysOf(...specs: string[]): KeyStore {
  const k = new KeyStore();
  specs.forEach((s, i) => k.addSa(parseSaSpec(s, `--sa #${i + 1}`)));
  return k;
}

async function decodeAll(file: Uint8Array, opts: DecodeOptions): Promise<DecodedPacket[]> {
  const d = await createDecoder(opts);
  try {
    return [...d.decodeCapture(file)];
  } finally {
    d.destroy();
  }
}

/** Our endpoint's protected packets (raw IPv4 frames) for these IPv6 packets. */
async function encap(inner: Uint8Array[], spec = SPEC, udp = false, from = A, to = B): Promise<Uint8Array[]> {
  const r = await encapCapture(writePcap(inner, 229), { sa: spec, tunnel: { local: from, remote: to, mtu: 9000 }, udp });
  expect(r.skipped).toEqual([]);
  return [...readCapture(r.pcap)].map((f) => f.data.slice());
}

const layer = (p: DecodedPacket, name: string) => p.layers.find((l) => l.name === name)!;
const names = (p: DecodedPacket) => p.layers.map((l) => l.name);
const pay = (p: DecodedPacket) => hex(layer(p, "esp").fields.payload as Uint8Array);

function echoes(n: number, src = IN_SRC): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => icmpv6Echo(src, IN_DST, 0x4242, i + 1, rng.bytes(rng.int(0, 300))));
}

describe("capture files and link types", () => {
  it("decodes the same ESP packets under every link type, in pcap and pcapng", async () => {
    const inner = echoes(4);
    const outer = await encap(inner);
    const keys = keysOf(SPEC);
    for (const lt of [1, 101, 228, 113, 276, 0]) {
      const frames = outer.map((p) => linkWrap(lt, p));
      for (const file of [writePcap(frames, lt), writePcapng(frames.map((data, i) => ({ data, linktype: lt, time: 10 + i / 4 })))]) {
        const pk = await decodeAll(file, { keys });
        expect(pk.map((p) => p.verdict), `linktype ${lt}`).toEqual(["ok", "ok", "ok", "ok"]);
        pk.forEach((p, i) => {
          expect(names(p).slice(-4), `linktype ${lt}`).toEqual(["ipv4", "esp", "ipv6", "icmpv6"]);
          expect(pay(p)).toBe(hex(inner[i]));
          expect(layer(p, "icmpv6").fields.seq).toBe(i + 1);
          expect(layer(p, "icmpv6").fields.checksumOk).toBe(true);
        });
        if (lt === 1) expect(layer(pk[0], "eth").fields.vlan).toEqual([42]);
      }
    }
    // IPv6 link type: the inner packets in the clear.
    const pk = await decodeAll(writePcap(inner, 229), {});
    expect(pk.map((p) => names(p))).toEqual(inner.map(() => ["ipv6", "icmpv6"]));
  });

  it("reads big-endian and nanosecond pcap, pcapng with two interfaces and tsresol, and names bad files", async () => {
    const outer = await encap(echoes(2));
    const le = writePcap(outer, 101);
    // Big-endian, nanosecond magic: rewrite the headers.
    const be = le.slice();
    const dvL = new DataView(le.buffer);
    const dvB = new DataView(be.buffer);
    dvB.setUint32(0, 0xa1b23c4d, false);
    dvB.setUint16(4, 2, false);
    dvB.setUint16(6, 4, false);
    dvB.setUint32(16, 65535, false);
    dvB.setUint32(20, 101, false);
    let o = 24;
    for (const p of outer) {
      dvB.setUint32(o, dvL.getUint32(o, true), false);
      dvB.setUint32(o + 4, 500_000_000, false);
      dvB.setUint32(o + 8, p.length, false);
      dvB.setUint32(o + 12, p.length, false);
      o += 16 + p.length;
    }
    const frames = [...readCapture(be)];
    expect(frames.map((f) => f.time)).toEqual([0.5, 1.5]);
    expect(frames.map((f) => f.data.length)).toEqual(outer.map((p) => p.length));
    // pcapng: an Ethernet interface and a raw interface with tsresol 10^-9.
    const ng = writePcapng([
      { data: linkWrap(1, outer[0]), linktype: 1, time: 5 },
      { data: outer[1], linktype: 101, time: 6 },
    ]);
    const f2 = [...readCapture(ng)];
    expect(f2.map((f) => f.linktype)).toEqual([1, 101]);
    expect(f2.map((f) => f.time)).toEqual([5, 6]);
    expect((await decodeAll(ng, { keys: keysOf(SPEC) })).map((p) => p.verdict)).toEqual(["ok", "ok"]);
    // A big-endian pcapng section whose interface has if_tsresol = 9 (nanoseconds).
    const pkt = outer[0];
    const pad = (4 - (pkt.length % 4)) % 4;
    const blocks: number[] = [];
    const u32 = (v: number) => blocks.push((v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
    const u16 = (v: number) => blocks.push((v >>> 8) & 255, v & 255);
    u32(0x0a0d0d0a); u32(28); u32(0x1a2b3c4d); u16(1); u16(0); u32(0xffffffff); u32(0xffffffff); u32(28);
    u32(1); u32(32); u16(101); u16(0); u32(0); u16(9); u16(1); blocks.push(9, 0, 0, 0); u32(0); u32(32); // IDB + tsresol + opt_endofopt
    const epbLen = 32 + pkt.length + pad;
    const ns = 1_700_000_000_123_456_789n;
    u32(6); u32(epbLen); u32(0); u32(Number(ns >> 32n)); u32(Number(ns & 0xffffffffn)); u32(pkt.length); u32(pkt.length);
    blocks.push(...pkt, ...new Array(pad).fill(0));
    u32(epbLen);
    const bng = [...readCapture(Uint8Array.from(blocks))];
    expect(bng.length).toBe(1);
    expect(bng[0].time).toBeCloseTo(1_700_000_000.123456789, 6);
    expect(hex(bng[0].data)).toBe(hex(pkt));
    expect(() => [...readCapture(new Uint8Array([1, 2, 3, 4, 5]))]).toThrow(/not a pcap or pcapng file/);
    expect(() => [...readCapture(le.subarray(0, le.length - 3))]).toThrow(/frame 2: .* file ends first/);
    const pk = await decodeAll(writePcap([new Uint8Array([0x45, 0])], 147), {});
    expect(pk[0].verdict).toBe("unsupported-linktype");
  });
});

describe("layers", () => {
  it("sum16 (32-bit words, folded by remainder) equals RFC 1071's 16-bit end-around sum: every length to 300, every offset mod 4, all-0xff and zero runs", () => {
    const rng = new Prng(0x1071);
    const ref = (b: Uint8Array, o: number, n: number, s0: number) => {
      let s = s0;
      for (let i = o; i + 1 < o + n; i += 2) s += (b[i] << 8) | b[i + 1];
      if (n & 1) s += b[o + n - 1] << 8;
      while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
      return s;
    };
    const big = new Uint8Array(400);
    for (const fill of ["random", "ff", "zero", "sparse"]) {
      for (let n = 0; n <= 300; n++) {
        for (let o = 0; o < 4; o++) {
          if (fill === "random") big.set(rng.bytes(big.length));
          else if (fill === "sparse") big.fill(0).set([0xff, 0xff, 0x00, 0x01], rng.int(0, 300));
          else big.fill(fill === "ff" ? 0xff : 0);
          const b = new Uint8Array(big.buffer, 3, 397); // not at the start of its buffer
          const s0 = [0, 1, 0xfffe, 0xffff][n & 3];
          expect(sum16(b, o, n, s0), `${fill} n=${n} o=${o}`).toBe(ref(b, o, n, s0));
        }
      }
    }
    // The inverse: a buffer whose checksum field holds inetChecksum sums to 0xffff.
    const p = rng.bytes(1000);
    p[0] = p[1] = 0;
    const c = inetChecksum(p);
    p[0] = c >> 8;
    p[1] = c & 0xff;
    expect(sum16(p, 0, p.length)).toBe(0xffff);
  });

  it("UDP 4500: ESP, NAT-keepalive, non-ESP marker with IKEv2; UDP 500 IKEv2; clear 6in4; TCP and UDP inner", async () => {
    const tcp = new Uint8Array(20);
    tcp.set([0x30, 0x39, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff]);
    const tcpPkt = ipv6Packet(IN_SRC, IN_DST, 6, tcp);
    // TCP checksum over the pseudo-header.
    const ph = cat(tcpPkt.subarray(8, 40), Uint8Array.from([0, 0, 0, 20, 0, 0, 0, 6]), tcp);
    const c = inetChecksum(ph);
    tcpPkt[40 + 16] = c >> 8;
    tcpPkt[40 + 17] = c & 0xff;
    const inner = [udp6(IN_SRC, IN_DST, 5353, 9, rng.bytes(33)), tcpPkt];
    const esp = await encap(inner, SPEC, true);
    const spiI = rng.bytes(8);
    const frames = [
      ...esp,
      ipv4Wrap(A, B, 17, udp4(4500, 4500, Uint8Array.of(0xff))),
      ipv4Wrap(A, B, 17, udp4(4500, 4500, cat(new Uint8Array(4), ikeSaInit(spiI)))),
      ipv4Wrap(A, B, 17, udp4(500, 500, ikeSaInit(spiI))),
      ipv4Wrap(A, B, 41, inner[0]),
    ];
    const pk = await decodeAll(writePcap(frames, 228), { keys: keysOf(SPEC) });
    expect(pk.map(names)).toEqual([
      ["ipv4", "udp", "esp", "ipv6", "udp", "data"],
      ["ipv4", "udp", "esp", "ipv6", "tcp"],
      ["ipv4", "udp", "udpencap"],
      ["ipv4", "udp", "udpencap", "ikev2"],
      ["ipv4", "udp", "ikev2"],
      ["ipv4", "ipv6", "udp", "data"],
    ]);
    expect(pk.map((p) => p.verdict)).toEqual(["ok", "ok", "ok", "ok", "ok", "ok"]);
    expect(layer(pk[0], "esp").fields.icv).toBe("ok");
    expect(pk[0].layers[4].fields).toMatchObject({ srcPort: 5353, dstPort: 9, checksumOk: true });
    expect(layer(pk[1], "tcp").fields).toMatchObject({ srcPort: 12345, dstPort: 80, flagNames: "SYN", checksumOk: true });
    expect(layer(pk[2], "udpencap").fields.kind).toBe("keepalive");
    for (const p of [pk[3], pk[4]]) {
      const ike = layer(p, "ikev2").fields;
      expect(ike).toMatchObject({ initiatorSpi: hex(spiI), responderSpi: "0000000000000000", exchangeName: "IKE_SA_INIT", initiator: true, response: false, messageId: 0, version: "2.0" });
      expect((ike.payloads as Array<{ name: string }>).map((x) => x.name)).toEqual(["Ni"]);
    }
    expect(summarize(pk[4], pk[0].time)).toMatch(/ISAKMP \d+ IKE_SA_INIT MID=00 Initiator Request$/);
    expect(summarize(pk[1], pk[0].time)).toMatch(/2001:db8:1::1 → 2001:db8:2::1 TCP \d+ 12345 → 80 \[SYN\] Seq=1 Ack=0 Win=65535 Len=0$/);
  });

  it("reassembles outer IPv4 fragments (in any order) and decrypts the datagram at the frame completing it", async () => {
    const inner = [icmpv6Echo(IN_SRC, IN_DST, 1, 1, rng.bytes(1000))];
    const [whole] = await encap(inner);
    const frags = fragmentIpv4(whole, 320, [2, 0, 3, 1]);
    const pk = await decodeAll(writePcap([...frags, whole], 101), { keys: keysOf(SPEC) });
    expect(pk.slice(0, 3).map((p) => names(p))).toEqual([["ipv4"], ["ipv4"], ["ipv4"]]);
    const last = pk[3];
    expect(last.fragments).toEqual([1, 2, 3, 4]);
    expect(last.sourceNames).toEqual(["frame", "reassembled", "decrypted"]);
    expect(names(last)).toEqual(["ipv4", "ipv4", "esp", "ipv6", "icmpv6"]);
    expect(pay(last)).toBe(hex(inner[0]));
    expect(layer(last, "esp").source).toBe(1);
    expect(pk[4].fragments).toBeUndefined();
    expect(pay(pk[4])).toBe(hex(inner[0]));
    // With a tunnel the held fragments say so; the completing frame gets the pipeline's verdict.
    const t = await decodeAll(writePcap([...frags], 101), { keys: keysOf(SPEC), tunnel: { local: B, remote: A, allow: ["2001:db8:1::/48"] } });
    expect(t.map((p) => p.verdict)).toEqual(["fragment", "fragment", "fragment", "accept"]);
  });

  it("walks IPv6 extension headers and gives every field a byte span", async () => {
    const icmp = icmpv6Echo(IN_SRC, IN_DST, 7, 9, rng.bytes(12));
    // Hop-by-hop (8 bytes, PadN) then destination options (8 bytes) before ICMPv6.
    const hbh = Uint8Array.from([60, 0, 1, 4, 0, 0, 0, 0]);
    const dst = Uint8Array.from([58, 0, 1, 4, 0, 0, 0, 0]);
    const l4 = icmp.subarray(40);
    const pkt = ipv6Packet(IN_SRC, IN_DST, 0, cat(hbh, dst, l4));
    const [outer] = await encap([pkt]);
    const [p] = await decodeAll(writePcap([outer], 101), { keys: keysOf(SPEC) });
    expect(names(p)).toEqual(["ipv4", "esp", "ipv6", "ipv6.hopopts", "ipv6.dstopts", "icmpv6"]);
    expect(layer(p, "icmpv6").fields).toMatchObject({ type: 128, id: 7, seq: 9, checksumOk: true });
    const esp = layer(p, "esp");
    const s = fieldSpans(esp);
    expect(s.spi).toEqual({ source: 0, offset: 20, length: 4 });
    expect(s.seq).toEqual({ source: 0, offset: 24, length: 4 });
    expect(s.iv).toEqual({ source: 0, offset: 28, length: 8 });
    expect(s.icv).toEqual({ source: 0, offset: outer.length - 16, length: 16 });
    expect(s.payload).toEqual({ source: 2 - 1, offset: 0, length: pkt.length });
    expect(s.nextHeader.offset).toBe(pkt.length + (esp.fields.padLength as number) + 1);
    const v6 = layer(p, "ipv6");
    expect(fieldSpans(v6).src).toEqual({ source: 1, offset: 8, length: 16 });
    expect(fieldSpans(layer(p, "ipv4")).dst).toEqual({ source: 0, offset: 16, length: 4 });
    expect(p.sources[1].subarray(fieldSpans(layer(p, "icmpv6")).seq.offset)[1]).toBe(9);
  });
});

describe("IKEv2 (src/ike codec)", () => {
  it("decrypts the SK payload with an ikev2_decryption_table; bad keys say integrity-failure, none say no-key", async () => {
    const keys: IkeSaKeys = { spiI: rng.bytes(8), spiR: rng.bytes(8), encr: 20, keyLen: 128, skEi: rng.bytes(20), skEr: rng.bytes(20) };
    const idi = { type: 35, body: Uint8Array.from([1, 0, 0, 0, 192, 0, 2, 1]) }; // ID_IPV4_ADDR 192.0.2.1
    const msg = encodeIkeMessage({ header: { spiI: keys.spiI, spiR: keys.spiR, exchangeType: 35, flags: { initiator: true }, messageId: 1 }, payloads: [{ type: 46, inner: [idi] }] }, keys);
    const cap = join(dir, "ike.pcap");
    writeFileSync(cap, writePcap([ipv4Wrap(A, B, 17, udp4(4500, 4500, cat(new Uint8Array(4), msg))), ipv4Wrap(A, B, 17, udp4(500, 500, ikeSaInit(keys.spiI)))], 101));
    const table = join(dir, "ikev2_decryption_table");
    writeFileSync(table, formatIkev2DecryptionTable([keys]));
    const wrongTable = join(dir, "ikev2_wrong");
    writeFileSync(wrongTable, formatIkev2DecryptionTable([{ ...keys, skEi: rng.bytes(20) }]));
    const lines = async (...extra: string[]) => {
      const r = await runCli("decode", [cap, "--json", ...extra]);
      expect(r.status, r.err).toBe(0);
      return r.out.trimEnd().split("\n").map((l) => JSON.parse(l));
    };
    const [good, init] = await lines("--ikev2-keys", table);
    const ike = good.layers.find((l: { name: string }) => l.name === "ikev2");
    expect(ike).toMatchObject({ exchangeName: "IKE_AUTH", messageId: 1, icv: "ok" });
    expect(ike.decrypted.map((p: { name: string }) => p.name)).toEqual(["IDi"]);
    expect(JSON.stringify(ike.decrypted[0].fields)).toContain("192.0.2.1");
    expect(good.verdict).toBe("ok");
    expect(init.verdict).toBe("ok");
    expect(ike.payloads[0]).toMatchObject({ name: "SK", offset: 20 + 8 + 4 + 28 });
    const [bad] = await lines("--ikev2-keys", wrongTable);
    expect([bad.layers.at(-1).icv, bad.verdict]).toEqual(["bad", "integrity-failure"]);
    const [none] = await lines();
    expect([none.layers.at(-1).icv, none.verdict]).toEqual(["no-key", "no-key"]);
    // The SK payload's span points at its generic header in the frame.
    const [p] = await decodeAll(new Uint8Array(readFileSync(cap)), {});
    const span = spansOf(p.layers.at(-1)!)["payloads.0"];
    expect(p.sources[0][span.offset]).toBe(35); // RFC 7296 §3.14: SK's Next Payload names the first inner payload (IDi)
    expect(span.length).toBe(msg.length - 28);
    const badTable = join(dir, "ikev2_bad");
    writeFileSync(badTable, "# x\nnot,a,table\n");
    const r = await runCli("decode", [cap, "--ikev2-keys", badTable]);
    expect([r.status, r.err]).toEqual([1, expect.stringMatching(/ERR_KEYS: .*ikev2_bad: .*line 2/)]);
  });
});

describe("keys", () => {
  const uat = (spi: string, alg: string, key: string, src = A, dst = B) => `"IPv4","${src}","${dst}","${spi}","${alg}","${key}","NULL",""`;

  it("parses esp_sa lines: comments, wildcards, escapes, ICV sizes; skips algorithms it cannot run", () => {
    const warnings: { origin: string; message: string }[] = [];
    const text = [
      "# This file is automatically generated, DO NOT MODIFY.",
      uat("0x00001001", "AES-GCM with 16 octet ICV [RFC4106]", KEY),
      "",
      uat("0x0000200*", "AES-GCM with 8 octet ICV [RFC4106]", "0x" + "ab".repeat(36), "*", "192.0.2.*"),
      uat("0x00003000", "AES-CBC [RFC3602]", "0x" + "00".repeat(16)),
      `"IPv6","2001:db8::\\x31","*","*","AES-GCM with 12 octet ICV [RFC4106]","0x${"cd".repeat(28)}","NULL",""`,
    ].join("\n");
    const keys = parseEspSaFile(text, "esp_sa", warnings);
    expect(keys.map((k) => [k.origin, k.name, k.icvLength])).toEqual([
      ["esp_sa:2", "aes128gcm16", 16],
      ["esp_sa:4", "aes256gcm8", 8],
      ["esp_sa:6", "aes192gcm12", 12],
    ]);
    expect(warnings).toEqual([{ origin: "esp_sa:5", message: expect.stringMatching(/AES-CBC \[RFC3602\].*skipped/) }]);
    const store = new KeyStore();
    store.addFile(keys);
    expect(store.lookup(4, A, B, 0x1001)?.origin).toBe("esp_sa:2");
    expect(store.lookup(4, "203.0.113.9", "192.0.2.77", 0x2005)?.origin).toBe("esp_sa:4");
    expect(store.lookup(4, "203.0.113.9", "198.51.100.1", 0x2005)).toBeUndefined();
    expect(store.lookup(4, A, B, 0x2010)).toBeUndefined();
    expect(store.lookup(6, "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:0db8:0000:0000:0000:0000:0000:0002", 77)?.origin).toBe("esp_sa:6");
  });

  it.for([
    ['"IPv4","192.0.2.1","192.0.2.2","0x1001"', /esp_sa:2: expected 8 fields/],
    [uat("0x00001001", "AES-GCM with 16 octet ICV [RFC4106]", "0x0011"), /esp_sa:2: AES-GCM key must be AES key ‖ 4-byte salt .* not 2/],
    [uat("0x00001001", "AES-GCM with 16 octet ICV [RFC4106]", "0xabc"), /esp_sa:2: key is not an even number of hex digits/],
    [uat("0xnope", "AES-GCM with 16 octet ICV [RFC4106]", KEY), /esp_sa:2: SPI '0xnope'/],
    [uat("0x00000000", "AES-GCM with 16 octet ICV [RFC4106]", KEY), /esp_sa:2: SPI 0 is reserved/],
    [uat("0x1", "AES-GCM with 16 octet ICV [RFC4106]", KEY, "192.0.2.300"), /esp_sa:2: source '192.0.2.300' is not an IPv4 address/],
    ['"IPv5","*","*","*","NULL","","NULL",""', /esp_sa:2: protocol 'IPv5'/],
    ['"IPv4","*","*","*,"NULL","","NULL",""', /esp_sa:2: expected ','/],
    ['"IPv4","*","*","*","NULL","","NULL","', /esp_sa:2: unterminated quoted field/],
  ] as const)("refuses a bad esp_sa line naming the line: %s", ([line, msg]) => {
    expect(() => parseEspSaFile(`# header\n${line}\n`, "esp_sa")).toThrow(msg);
    try {
      parseEspSaFile(`# header\n${line}\n`, "esp_sa");
    } catch (e) {
      expect((e as { code: string }).code).toBe("ERR_KEYS");
    }
  });

  it("parses --sa specs in strongSwan's names and refuses bad ones", () => {
    expect(parseSaSpec(`spi=0x1001,enc=aes256gcm12,key=0x${"00".repeat(36)},esn=0x10`)).toMatchObject({ name: "aes256gcm12", icvLength: 12, esn: true, esnHigh: 16 });
    expect(parseSaSpec(`spi=4097,enc=aes128gcm128,key=${KEY}`)).toMatchObject({ name: "aes128gcm16", icvLength: 16, esn: false });
    expect(parseSaSpec(`spi=0x1,enc=chacha20poly1305,key=0x${"00".repeat(36)}`)).toMatchObject({ algorithm: "chacha20-poly1305", icvLength: 16 });
    const bad: Array<[string, RegExp]> = [
      [`enc=aes128gcm16,key=${KEY}`, /missing spi=/],
      [`spi=0x1001,enc=aes128cbc,key=${KEY}`, /enc 'aes128cbc' is not an ESP algorithm/],
      [`spi=0x1001,enc=aes256gcm16,key=${KEY}`, /aes256gcm16 needs a 256-bit key and a 4-byte salt: 36 bytes, not 20/],
      [`spi=0x1001,enc=aes128gcm16,key=1234`, /key must be hex/],
      [`spi=0x1001,enc=aes128gcm16,key=${KEY},esn=x`, /esn 'x' is not a 32-bit number/],
      [`spi=0x1001,enc=aes128gcm16,key=${KEY},color=red`, /unknown key 'color'/],
      [`spi=0x1001,spi=0x1002,enc=aes128gcm16,key=${KEY}`, /spi given twice/],
      [`spi=0x100*,enc=aes128gcm16,key=${KEY}`, /without wildcards/],
    ];
    for (const [s, msg] of bad) expect(() => parseSaSpec(s, "--sa #1"), s).toThrow(msg);
  });

  it("--sa wins over a key file for the same SPI and addresses, whichever is right", async () => {
    const outer = await encap(echoes(2));
    const wrong = "0x" + hex(rng.bytes(20));
    const file = new KeyStore();
    file.addFile(parseEspSaFile(uat("0x00001001", "AES-GCM with 16 octet ICV [RFC4106]", wrong), "esp_sa"));
    const pcap = writePcap(outer, 101);
    const fileOnly = await decodeAll(pcap, { keys: file });
    expect(fileOnly.map((p) => [layer(p, "esp").fields.icv, p.verdict])).toEqual([["bad", "integrity-failure"], ["bad", "integrity-failure"]]);
    file.addSa(parseSaSpec(SPEC));
    expect((await decodeAll(pcap, { keys: file })).map((p) => layer(p, "esp").fields.icv)).toEqual(["ok", "ok"]);
    // And the other way round: a right key in the file loses against a wrong --sa.
    const right = new KeyStore();
    right.addFile(parseEspSaFile(uat("0x00001001", "AES-GCM with 16 octet ICV [RFC4106]", KEY), "esp_sa"));
    right.addSa(parseSaSpec(`spi=0x00001001,enc=aes128gcm16,key=${wrong}`));
    expect((await decodeAll(pcap, { keys: right })).map((p) => layer(p, "esp").fields.icv)).toEqual(["bad", "bad"]);
    // No key at all.
    const none = await decodeAll(pcap, {});
    expect(none.map((p) => [layer(p, "esp").fields.icv, p.verdict, names(p).length])).toEqual([["no-key", "no-key", 2], ["no-key", "no-key", 2]]);
  });

  it("shows the decrypted bytes of a packet whose ICV fails (flipped ICV bit) and says bad", async () => {
    const inner = echoes(1);
    const [pkt] = await encap(inner);
    const t = pkt.slice();
    t[t.length - 1] ^= 0x40;
    const [p] = await decodeAll(writePcap([t], 101), { keys: keysOf(SPEC) });
    expect(layer(p, "esp").fields).toMatchObject({ icv: "bad", nextHeader: 41 });
    expect(pay(p)).toBe(hex(inner[0]));
    expect(p.verdict).toBe("integrity-failure");
    expect(names(p)).toEqual(["ipv4", "esp", "ipv6", "icmpv6"]);
  });
});

describe("other ESP algorithms", () => {
  it.for(["chacha20poly1305", "aes256gmac", "aes192gcm12"])("%s: decodes, and shows a tampered packet's bytes with icv bad", async (enc) => {
    const key = enc === "aes192gcm12" ? hex(rng.bytes(28)) : hex(rng.bytes(36));
    const spec = `spi=0x00005005,enc=${enc},key=0x${key}`;
    const inner = echoes(2);
    const outer = await encap(inner, spec);
    const t = outer[1].slice();
    t[t.length - 2] ^= 1; // ICV
    const pk = await decodeAll(writePcap([...outer, t], 101), { keys: keysOf(spec) });
    expect(pk.map((p) => [layer(p, "esp").fields.icv, p.verdict, pay(p)])).toEqual([
      ["ok", "ok", hex(inner[0])],
      ["ok", "ok", hex(inner[1])],
      ["bad", "integrity-failure", hex(inner[1])],
    ]);
    expect(layer(pk[0], "esp").fields.algorithm).toBe(enc);
  });
});

describe("ESN", () => {
  it("infers the high bits packet by packet across 2^32 from the given start, with late packets and gaps", async () => {
    const spec = `spi=0x00002002,enc=aes256gcm16,key=0x${hex(rng.bytes(36))},esn=0`;
    const inner = echoes(24);
    // Sender from 2^32 − 16 across into high = 1.
    const outer = await encap(inner, `${spec},seq=${0x100000000 - 16}`);
    const want = inner.map((_, i) => 0x100000000 - 16 + i);
    // Reorder a little: a packet from before the wrap arrives after it (RFC 4303 A2.2 case B).
    const order = [...outer.keys()];
    [order[16], order[17]] = [order[17], order[16]];
    [order[15], order[18]] = [order[18], order[15]];
    const pk = await decodeAll(writePcap(order.map((i) => outer[i]), 101), { keys: keysOf(spec) });
    expect(pk.map((p) => layer(p, "esp").fields.icv)).toEqual(order.map(() => "ok"));
    expect(pk.map((p) => layer(p, "esp").fields.seq)).toEqual(order.map((i) => want[i]));
    expect(pk.map((p) => layer(p, "esp").fields.seqHigh)).toEqual(order.map((i) => (want[i] >= 0x100000000 ? 1 : 0)));
    // A capture that starts after the wrap needs esn=1; with esn=0 the receiver would have
    // inferred high 0 and the ICV fails.
    const late = writePcap(outer.slice(20), 101);
    const ok = await decodeAll(late, { keys: keysOf(spec.replace("esn=0", "esn=1")) });
    expect(ok.map((p) => layer(p, "esp").fields.seq)).toEqual(want.slice(20));
    const wrong = await decodeAll(late, { keys: keysOf(spec) });
    expect(wrong.map((p) => p.verdict)).toEqual(want.slice(20).map(() => "integrity-failure"));
  });

  it("shows sequence numbers above 2^53 as decimal strings", async () => {
    const high = 0x00300000; // 2^52 · 3 …
    const spec = `spi=0x00003003,enc=aes128gcm8,key=${KEY},esn=${high}`;
    const outer = await encap(echoes(2), spec);
    const pk = await decodeAll(writePcap(outer, 101), { keys: keysOf(spec) });
    expect(pk.map((p) => layer(p, "esp").fields.seq)).toEqual([String((BigInt(high) << 32n) + 1n), String((BigInt(high) << 32n) + 2n)]);
  });
});

describe("ESP engines in the decoder", () => {
  it("node:crypto keystream (Node's default) and wasm AES give identical JSON and summaries for a capture with every packet kind", async () => {
    const specs = [
      `spi=0x00006001,enc=aes128gcm16,key=0x${hex(rng.bytes(20))}`,
      `spi=0x00006002,enc=aes192gcm12,key=0x${hex(rng.bytes(28))}`,
      `spi=0x00006003,enc=aes256gcm8,key=0x${hex(rng.bytes(36))},esn=0`,
      `spi=0x00006004,enc=chacha20poly1305,key=0x${hex(rng.bytes(36))}`,
      `spi=0x00006005,enc=aes128gmac,key=0x${hex(rng.bytes(20))}`,
    ];
    const frames: Uint8Array[] = [];
    for (const spec of specs) {
      const outer = await encap(echoes(6), spec.includes("esn") ? `${spec},seq=${0x100000000 - 3}` : spec);
      const udp = await encap(echoes(2), spec, true);
      const tampered = outer[2].slice();
      tampered[30] ^= 4;
      // … a replay, a tampered packet, a frame cut short, an ESP packet too short for its ICV
      frames.push(...outer, outer[1], tampered, outer[3].subarray(0, 30), ipv4Wrap(A, B, 50, outer[3].subarray(20, 44)), ...udp);
    }
    // Authentic ICV, bad padding; a dummy (next header 59: shown, verdict ok); an SPI nobody has a key for.
    const k1 = Buffer.from(specs[0].split("key=0x")[1], "hex");
    const forged = (nh: number, padLength?: number) => ipv4Wrap(A, B, 50, espSealNode({ spi: 0x6001, keymat: k1, seq: 50 + nh, nextHeader: nh, padLength }, echoes(1)[0]));
    frames.push(forged(41, 255), forged(59), forged(41), (await encap(echoes(1), `spi=0x00009999,enc=aes128gcm16,key=${KEY}`))[0]);
    // Outer fragments of an ESP packet, IKE (UDP 500 and behind the non-ESP marker, malformed),
    // a keepalive, clear 6in4, plain UDP, a truncated IPv4 header, IPv6 directly.
    const [big] = await encap([icmpv6Echo(IN_SRC, IN_DST, 1, 1, rng.bytes(1200))], specs[0]);
    frames.push(...fragmentIpv4(big, 400, [1, 0, 2]));
    const bad = ikeSaInit(rng.bytes(8));
    bad[28 + 3] = 0x30; // an SA payload whose proposal cannot be parsed
    frames.push(
      ipv4Wrap(A, B, 17, udp4(500, 500, ikeSaInit(rng.bytes(8)))),
      ipv4Wrap(A, B, 17, udp4(4500, 4500, cat(new Uint8Array(4), ikeSaInit(rng.bytes(8))))),
      ipv4Wrap(A, B, 17, udp4(500, 500, bad)),
      ipv4Wrap(A, B, 17, udp4(4500, 4500, Uint8Array.of(0xff))),
      ipv4Wrap(A, B, 41, echoes(1)[0]),
      ipv4Wrap(A, B, 17, udp4(5353, 53, rng.bytes(40))),
      ipv4Wrap(A, B, 50, new Uint8Array(40)).subarray(0, 12),
      echoes(1)[0],
    );
    const pcap = writePcap(frames, 101);
    const keys = keysOf(...specs);
    const tunnel = { local: B, remote: A, allow: ["2001:db8:1::/48"] };
    const run = async (opts: DecodeOptions) => {
      const pk = await decodeAll(pcap, opts);
      return pk.map((p) => `${JSON.stringify(packetJson(p, { offsets: true }))}\n${summarize(p, pk[0].time)}`);
    };
    setKeystreamProvider(nodeKeystreamProvider);
    let node: string[][];
    try {
      node = [await run({ keys }), await run({ keys, tunnel }), await run({ keys, batchSize: 7 })];
    } finally {
      setKeystreamProvider(undefined);
    }
    const wasm = [await run({ keys }), await run({ keys, tunnel }), await run({ keys, batchSize: 7 })];
    expect(node[0]).toEqual(wasm[0]);
    expect(node[1]).toEqual(wasm[1]);
    expect(node[2]).toEqual(wasm[2]);
    expect(wasm[2]).toEqual(wasm[0]); // batch boundaries change nothing either
    // The capture reaches every kind it is meant to.
    const verdicts = new Set(wasm[0].map((l) => JSON.parse(l.split("\n")[0]).verdict));
    expect([...verdicts]).toEqual(expect.arrayContaining(["ok", "integrity-failure", "bad-padding", "truncated", "no-key", "bad-ike", "bad-length"]));
    expect(new Set(wasm[1].map((l) => JSON.parse(l.split("\n")[0]).verdict)).size).toBeGreaterThan(4);
  });
});

describe("--tunnel verdicts (the inbound pipeline of the local endpoint)", () => {
  it("accepts good packets; names spoofed outer and inner sources, ingress, replays, clear text, unknown SPIs", async () => {
    const spoofOuter = (p: Uint8Array, src: string) => {
      const q = p.slice();
      q.set(src.split(".").map(Number), 12);
      q[10] = q[11] = 0;
      const c = inetChecksum(q.subarray(0, 20));
      q[10] = c >> 8;
      q[11] = c & 0xff;
      return q;
    };
    const good = await encap(echoes(3));
    const badInner = await encap([
      icmpv6Echo("::1", IN_DST, 1, 1, new Uint8Array(4)),
      icmpv6Echo("ff02::1", IN_DST, 1, 2, new Uint8Array(4)),
      icmpv6Echo("::ffff:192.0.2.9", IN_DST, 1, 3, new Uint8Array(4)),
      icmpv6Echo("2001:db8:99::1", IN_DST, 1, 4, new Uint8Array(4)),
    ], `spi=0x00001001,enc=aes128gcm16,key=${KEY},seq=100`);
    const otherSpi = await encap(echoes(1), `spi=0x00009999,enc=aes128gcm16,key=${KEY}`);
    const ours = await encap(echoes(1), `spi=0x00004444,enc=aes128gcm16,key=${KEY}`, false, B, A);
    const frames = [
      good[0], // 1 accept
      good[1], // 2 accept
      good[1], // 3 replayed
      spoofOuter(good[2], "198.51.100.7"), // 4 spoofed outer source
      good[2], // 5 accept (the spoofed copy changed nothing)
      ...badInner, // 6-9 inner loopback, multicast, v4-mapped, outside the allowed prefix
      ipv4Wrap(A, B, 41, echoes(1)[0]), // 10 clear text on a protected tunnel
      otherSpi[0], // 11 no SA for this SPI
      ours[0], // 12 sent by the local endpoint
      ipv4Wrap(A, B, 17, udp4(500, 500, ikeSaInit(rng.bytes(8)))), // 13 IKE → accept
      ipv4Wrap(A, B, 17, udp4(53, 53, new Uint8Array(10))), // 14 not tunnel traffic
    ];
    const pcap = writePcap(frames, 101);
    const tunnel = { local: B, remote: A, allow: ["2001:db8:1::/48", "2001:db8:77::/48"] };
    const pk = await decodeAll(pcap, { keys: keysOf(SPEC), tunnel });
    expect(pk.map((p) => `${p.frame} ${p.verdict}`)).toEqual([
      "1 accept", "2 accept", "3 replayed", "4 spoofed-outer-source", "5 accept",
      "6 inner-loopback", "7 inner-multicast", "8 inner-v4-mapped", "9 ingress-prefix",
      "10 cleartext-protected", "11 unknown-spi", "12 outbound", "13 accept", "14 not-tunnel",
    ]);
    // Decoding is still complete for dropped packets.
    expect(pay(pk[2])).toBe(pay(pk[1]));
    expect(layer(pk[3], "icmpv6").fields.type).toBe(128);
    // Without --tunnel: every frame decodes; the replay is shown, not refused.
    const d = await decodeAll(pcap, { keys: keysOf(SPEC) });
    expect(d.map((p) => p.verdict)).toEqual(["ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "ok", "no-key", "no-key", "ok", "ok"]);
  });

  it("policy=bypass takes clear text, and a key for another destination is not the endpoint's", async () => {
    const tunnel = { local: B, remote: A, allow: ["2001:db8:1::/48"], policy: "bypass" as const };
    const clear = ipv4Wrap(A, B, 41, echoes(1)[0]);
    const [esp] = await encap(echoes(1));
    const keys = keysOf(`${SPEC},dst=203.0.113.1`);
    const pk = await decodeAll(writePcap([clear, esp], 101), { keys, tunnel });
    expect(pk.map((p) => p.verdict)).toEqual(["accept", "unknown-spi"]);
  });
});

describe("CLI", () => {
  it("decode --json: one object per packet per line with frame, layers and verdict", async () => {
    const inner = echoes(3);
    const outer = await encap(inner);
    const cap = join(dir, "a.pcap");
    writeFileSync(cap, writePcap(outer, 101));
    const sa = join(dir, "esp_sa");
    writeFileSync(sa, `"IPv4","${A}","${B}","0x00001001","AES-GCM with 16 octet ICV [RFC4106]","${KEY}","NULL",""\n`);
    const r = await runCli("decode", [cap, "--esp-sa", sa, "--json", "--no-progress"]);
    expect(r.err).toBe("");
    expect(r.status).toBe(0);
    const lines = r.out.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(lines.length).toBe(3);
    lines.forEach((o, i) => {
      expect(Object.keys(o)).toEqual(["frame", "time", "length", "layers", "verdict"]);
      expect(o.frame).toBe(i + 1);
      expect(o.verdict).toBe("ok");
      expect(o.layers.map((l: { name: string }) => l.name)).toEqual(["ipv4", "esp", "ipv6", "icmpv6"]);
      expect(o.layers[1]).toMatchObject({ spi: 0x1001, seq: i + 1, icv: "ok", nextHeader: 41, payload: hex(inner[i]) });
      expect(typeof o.layers[1].padLength).toBe("number");
      expect(o.layers[2]).toMatchObject({ src: IN_SRC, dst: IN_DST });
    });
    const withOffsets = await runCli("decode", [cap, "--sa", SPEC, "--json", "--offsets"]);
    expect(JSON.parse(withOffsets.out.split("\n")[0]).layers[1].span).toEqual([0, 20, outer[0].length - 20]);
    const human = await runCli("decode", [cap, `--sa=${SPEC}`, "--tunnel", `local=${B},remote=${A},allow=2001:db8:1::/48`]);
    expect(human.out.split("\n")[0]).toMatch(/^ {4}1 +0\.000000 2001:db8:1::1 → 2001:db8:2::1 ICMPv6 \d+ Echo \(ping\) request id=0x4242, seq=1, hop limit=64 +\[accept\]$/);
  });

  it("named errors and exit statuses: usage 2; unreadable files, bad key lines, bad captures 1", async () => {
    const cap = join(dir, "b.pcap");
    writeFileSync(cap, writePcap(await encap(echoes(1)), 101));
    const badSa = join(dir, "bad_esp_sa");
    writeFileSync(badSa, `# ok\n"IPv4","${A}","${B}","0x00001001","AES-GCM with 16 octet ICV [RFC4106]","0x1234","NULL",""\n`);
    const junk = join(dir, "junk.pcap");
    writeFileSync(junk, "hello, world");
    const cases: Array<[string[], number, RegExp]> = [
      [[], 2, /ERR_USAGE: which capture file\?/],
      [[cap, cap], 2, /ERR_USAGE: one capture file, not 2/],
      [[cap, "--frobnicate"], 2, /ERR_USAGE: unknown option '--frobnicate'/],
      [[cap, "--sa"], 2, /ERR_USAGE: --sa needs a value/],
      [[cap, "--tunnel", `local=${B}`], 2, /ERR_USAGE: --tunnel: missing remote=/],
      [[cap, "--tunnel", `local=${B},remote=${A},allow=2001:db8::1/32`], 2, /ERR_USAGE: --tunnel allow=2001:db8::1\/32 is not an IPv6 prefix/],
      [[cap, "--offsets"], 2, /--offsets goes with --json/],
      [[join(dir, "missing.pcap")], 1, /ERR_FILE: cannot read capture '.*missing.pcap': no such file/],
      [[cap, "--esp-sa", join(dir, "nope")], 1, /ERR_FILE: cannot read esp_sa file/],
      [[cap, "--esp-sa", badSa], 1, /ERR_KEYS: .*bad_esp_sa:2: AES-GCM key must be/],
      [[cap, "--sa", "spi=1,enc=aes128gcm16"], 1, /ERR_KEYS: --sa #1: missing key=/],
      [[junk], 1, /ERR_CAPTURE: not a pcap or pcapng file/],
    ];
    for (const [args, status, msg] of cases) {
      const r = await runCli("decode", args);
      expect(r.status, args.join(" ")).toBe(status);
      expect(r.err, args.join(" ")).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    }
    expect((await runCli("decode", ["--help"])).out).toMatch(/^usage: ipsec6in4 decode/);
  });

  it("encap writes what an RFC 4891 endpoint sends; decode reads it back; UDP 4500 with --udp", async () => {
    const inner = echoes(3);
    const inFile = join(dir, "inner.pcap");
    const outFile = join(dir, "outer.pcap");
    writeFileSync(inFile, writePcap([...inner, ipv4Wrap(A, B, 17, udp4(1, 2, new Uint8Array(3)))], 101));
    const r = await runCli("encap", ["--sa", `${SPEC},seq=7`, "--tunnel", `local=${A},remote=${B}`, "--udp", inFile, outFile]);
    expect(r.status).toBe(0);
    expect(r.out).toBe(`3 packets written to ${outFile}\n`);
    expect(r.err).toBe("ipsec6in4 encap: frame 4 not sent: not-ipv6\n");
    const pk = await decodeAll(new Uint8Array(readFileSync(outFile)), { keys: keysOf(SPEC) });
    expect(pk.map((p) => [layer(p, "udp").fields.dstPort, layer(p, "esp").fields.seq, pay(p)])).toEqual(inner.map((x, i) => [4500, 7 + i, hex(x)]));
    expect(pk.map((p) => layer(p, "ipv4").fields.src)).toEqual([A, A, A]);
    const bad = await runCli("encap", ["--sa", SPEC, inFile, outFile]);
    expect([bad.status, bad.err]).toEqual([2, expect.stringMatching(/ERR_USAGE: encap needs one --tunnel/)]);
  });
});
