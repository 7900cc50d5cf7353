// ESP (RFC 4303; RFC 4106 AES-GCM, RFC 7634 ChaCha20-Poly1305, RFC 4543 AES-GMAC; RFC 3948
// UDP encapsulation) against independent implementations, in the transport mode of
// RFC 4891 Table 1:
//   IPv4 (proto 50 | proto 17 + UDP 4500) | ESP | IPv6 packet | pad | pad length | 41 | ICV
//
// 1. scapy's SecurityAssociation (test/interop/scapy_esp.py, one Python process for the
//    file, JSON lines in and out) seals scapy-built IPv6 packets; ours opens them and must
//    give back the exact inner packet and the full 64-bit sequence number (ESN high bits
//    inferred by RFC 4303 App. A2, across 2^32 and 2^33). Then the other way round: ours
//    seals, scapy opens. ICV 8, 12 and 16; ESN and not; raw and UDP-encapsulated.
//    ChaCha20-Poly1305 is scapy 2.5's own 'CHACHA20-POLY1305'. scapy 2.5 has no AES-GMAC:
//    the helper registers one on scapy's CryptAlgo (scapy's framing, RFC 4543 AAD over
//    python-cryptography's AESGCM), see scapy_esp.py.
// 2. tshark decrypts ours (non-ESN: Wireshark 4.0 has no ESN) with the keys in an esp_sa
//    UAT file, reports the ICV good, the SPI and sequence numbers we sent, the exact inner
//    packet, our padding, and good inner UDP/ICMPv6 checksums.
//    tshark 4.0 knows neither ChaCha20-Poly1305 nor AES-GMAC in ESP (its esp_sa UAT refuses
//    "ChaCha20 with Poly1305 [RFC7634]" and "GMAC with AES-… [RFC4543]": "invalid value").
//    For AES-GMAC, "NULL" encryption with "ANY 128 bit authentication [no checking]" shows
//    the clear payload: tshark assumes a 0-byte IV with NULL, so its decrypted data is our
//    IV ‖ inner packet ‖ padding ‖ pad length ‖ 41 and the ICV stays unchecked. For
//    ChaCha20-Poly1305 it shows SPI and sequence numbers only.
// Negative controls: a flipped bit is refused by scapy, by ours and shown as a bad ICV by
// tshark; a replay and a wrong ESN high half are refused.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEsp, type Esp, type EspAlgorithm } from "../src/esp.js";
import { ensureDebian } from "./helpers/apt.js";
import { inetChecksum, ipv4Unwrap, ipv4Wrap, LINKTYPE_RAW, writePcap } from "./helpers/pcap.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";

const PYTHON = "/usr/bin/python3";
const SCAPY_SCRIPT = fileURLToPath(new URL("./interop/scapy_esp.py", import.meta.url));
const OUTER_SRC = "192.0.2.1";
const OUTER_DST = "192.0.2.2";
const INNER_SRC = "2001:db8:1::1";
const INNER_DST = "2001:db8:2::1";
const NAT_T = { sourcePort: 4500, destinationPort: 4500 };

const seed = seedFromEnv(0x4303_3948);
const rng = new Prng(seed);

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));
const be32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o);
const be16 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(o);
const flipBit = (b: Uint8Array, byte: number, bit = 0) => {
  const c = b.slice();
  c[byte] ^= 1 << bit;
  return c;
};

/** Inner payload sizes: every padding length (0..3 mod 4), the edges of 0..1400, some random. */
function payloadSizes(n: number): number[] {
  const fixed = [0, 1, 2, 3, 4, 5, 6, 7, 64, 255, 256, 1024, 1399, 1400];
  return Array.from({ length: n }, (_, i) => (i < fixed.length ? fixed[i] : rng.int(0, 1400)));
}

// ---- The scapy peer ----

interface OpenResult {
  ok: boolean;
  error?: string;
  inner?: string;
  proto?: number;
  spi?: number;
  seq?: number;
  udp?: boolean;
  summary?: string;
}

class ScapyPeer {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<{ resolve: (v: any) => void; reject: (e: Error) => void }> = [];
  private stderr = "";
  private exited: string | undefined;

  constructor() {
    this.proc = spawn(PYTHON, [SCAPY_SCRIPT], { stdio: ["pipe", "pipe", "pipe"] });
    this.proc.stderr.on("data", (d) => (this.stderr += String(d)));
    this.proc.stdin.on("error", () => {}); // reported through "exit"
    createInterface({ input: this.proc.stdout }).on("line", (line) => {
      const w = this.waiting.shift();
      if (!w) return;
      const res = JSON.parse(line);
      if (res.error) w.reject(new Error(`scapy_esp.py: ${res.error}\n${res.trace ?? ""}`));
      else w.resolve(res);
    });
    this.proc.on("exit", (code) => {
      this.exited = `scapy_esp.py exited (${code}): ${this.stderr}`;
      for (const w of this.waiting.splice(0)) w.reject(new Error(this.exited));
    });
  }

  request<T = any>(req: object): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.exited) return reject(new Error(this.exited));
      this.waiting.push({ resolve, reject });
      this.proc.stdin.write(JSON.stringify(req) + "\n");
    });
  }

  /** Real IPv6 packets (ICMPv6 echo requests and UDP datagrams) built by scapy. */
  async inner(sizes: number[]): Promise<Uint8Array[]> {
    const packets = sizes.map((size, i) => ({ kind: i % 2 ? "udp" : "icmp", size, seed: rng.u32() }));
    const res = await this.request<{ packets: string[] }>({ op: "inner", packets });
    return res.packets.map(unhex);
  }

  close(): void {
    this.proc.stdin.end(JSON.stringify({ op: "quit" }) + "\n");
  }
}

interface Combo {
  algo: EspAlgorithm;
  icv: 8 | 12 | 16;
  esn: boolean;
  encap: boolean;
  keyLen: 16 | 24 | 32;
}
const COMBOS: Combo[] = [];
for (const icv of [16, 12, 8] as const) {
  for (const esn of [false, true]) {
    for (const encap of [false, true]) {
      COMBOS.push({ algo: "aes-gcm", icv, esn, encap, keyLen: ([16, 32, 24] as const)[COMBOS.length % 3] });
    }
  }
}
/** ChaCha20-Poly1305 (RFC 7634) and AES-GMAC (RFC 4543): ICV 16, every key size, ESN and not, raw and UDP. */
const CHACHA_COMBOS: Combo[] = [];
const GMAC_COMBOS: Combo[] = [];
for (const esn of [false, true]) {
  for (const encap of [false, true]) {
    CHACHA_COMBOS.push({ algo: "chacha20-poly1305", icv: 16, esn, encap, keyLen: 32 });
    GMAC_COMBOS.push({ algo: "aes-gmac", icv: 16, esn, encap, keyLen: ([16, 24, 32, 16] as const)[GMAC_COMBOS.length] });
  }
}
COMBOS.push(...CHACHA_COMBOS, ...GMAC_COMBOS);
const algoName = (c: Combo) =>
  c.algo === "chacha20-poly1305" ? "ChaCha20-Poly1305" : c.algo === "aes-gmac" ? `AES-${c.keyLen * 8}-GMAC` : `AES-${c.keyLen * 8}-GCM ICV ${c.icv}`;
const label = (c: Combo) => `${algoName(c)}, ${c.esn ? "ESN" : "no ESN"}, ${c.encap ? "UDP 4500" : "raw ESP"}`;

/**
 * Sequence numbers (high, low) scapy seals with. Our inbound SA starts at T = 0, so the
 * high half can only be reached through the low half: forward jumps past 2^31, a wrap into
 * high = 1 (RFC 4303 A2, case A), a late packet from high = 0 after the wrap (case B),
 * another wrap into high = 2 and a late one from high = 1.
 */
const ESN_PLAN: Array<[number, number]> = [
  [0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [0, 6], [0, 7], [0, 8],
  [0, 0x80000010], [0, 0x80000011], [0, 0xfffffffd], [0, 0xffffffff],
  [1, 0], [1, 1], [0, 0xfffffffe], [1, 2], [1, 0x7fffffff], [1, 0xa0000000],
  [1, 0xfffffffa], [2, 3], [1, 0xfffffff0], [2, 4], [2, 0x10000], [2, 0x10001],
];
/** Without ESN: the same shape within 32 bits, up to the last number, 2^32 − 1. */
const PLAIN_PLAN: Array<[number, number]> = [
  [0, 1], [0, 2], [0, 3], [0, 4], [0, 5], [0, 6], [0, 7], [0, 8],
  [0, 100], [0, 99], [0, 0x7fffffff], [0, 0x80000000], [0, 0x80000001],
  [0, 0xfffffff0], [0, 0xfffffff2], [0, 0xfffffff1], [0, 0xfffffff8], [0, 0xfffffffe], [0, 0xffffffff],
];

async function saPair(c: Combo) {
  const esp = await createEsp({ capacity: 16 });
  const keymat = rng.bytes(c.keyLen + 4);
  const spi = rng.int(0x100, 0x7fffffff);
  const inb = esp.addInbound({ spi, keymat, algorithm: c.algo, icvLength: c.icv, esn: c.esn, replayWindow: 1024 });
  const out = esp.addOutbound({ spi, keymat, algorithm: c.algo, icvLength: c.icv, esn: c.esn, encap: c.encap ? NAT_T : undefined });
  return { esp, keymat, spi, inb, out };
}

function scapySa(c: Combo, spi: number, keymat: Uint8Array) {
  return { spi, keymat: hex(keymat), icv: c.icv, esn_en: c.esn, encap: c.encap, algo: c.algo, src: OUTER_SRC, dst: OUTER_DST };
}

/** Strip the outer IPv4 (and check the UDP header when encapsulated): what ours receives. */
function outerToOurs(pkt: Uint8Array, encap: boolean): Uint8Array {
  const ip = ipv4Unwrap(pkt);
  expect([ip.src, ip.dst]).toEqual([OUTER_SRC, OUTER_DST]);
  expect(ip.protocol).toBe(encap ? 17 : 50);
  if (encap) {
    expect(be16(ip.payload, 0)).toBe(4500);
    expect(be16(ip.payload, 2)).toBe(4500);
    expect(be16(ip.payload, 4)).toBe(ip.payload.length);
    expect(be16(ip.payload, 6)).toBe(0); // RFC 3948 §2.1: checksum SHOULD be 0 (scapy sends 0)
  }
  return ip.payload;
}

/** Our outbound bytes (ESP, or UDP ‖ ESP) in an outer IPv4 header. */
function oursToOuter(bytes: Uint8Array, encap: boolean, id: number): Uint8Array {
  return ipv4Wrap(OUTER_SRC, OUTER_DST, encap ? 17 : 50, bytes, id);
}

/** Open received packets with ours: one by one for raw ESP, as one batch through demuxUdp for UDP. */
function openWithOurs(esp: Esp, packets: Uint8Array[], encap: boolean) {
  const res: Array<{ reason: string; payload?: Uint8Array; nextHeader?: number; sequence?: bigint; spi?: number }> = [];
  if (!encap) {
    for (const p of packets) {
      try {
        const r = esp.unprotectOne(p);
        res.push({ reason: "none", payload: r.payload, nextHeader: r.nextHeader, sequence: r.sequence, spi: r.sa.spi });
      } catch (e: any) {
        if (e?.name !== "EspDropError") throw e;
        res.push({ reason: e.reason });
      }
    }
    return res;
  }
  const b = esp.createBatch({ packets: packets.length, slotBytes: 2048 });
  try {
    for (const p of packets) b.addPacket(p);
    expect(esp.demuxUdp(b, true)).toBe(packets.length);
    for (let i = 0; i < packets.length; i++) expect(b.kind(i)).toBe("esp");
    esp.unprotect(b);
    for (let i = 0; i < packets.length; i++) {
      const reason = b.reason(i);
      res.push(reason !== "none" ? { reason } : { reason, payload: b.output(i).slice(), nextHeader: b.nextHeader(i), sequence: b.sequence(i), spi: b.sa(i)?.spi });
    }
  } finally {
    b.destroy();
  }
  return res;
}

describe(`ESP interop with scapy's SecurityAssociation (seed ${seed})`, () => {
  let skip: string | undefined;
  let scapy: ScapyPeer;

  beforeAll(() => {
    skip = ensureDebian("/usr/lib/python3/dist-packages/scapy/__init__.py", ["python3-scapy", "python3-cryptography"]);
    if (!skip && spawnSync(PYTHON, ["-c", "import cryptography"]).status !== 0) {
      skip = ensureDebian("/usr/lib/python3/dist-packages/cryptography/__init__.py", ["python3-cryptography"]);
    }
    if (!skip) scapy = new ScapyPeer();
  });
  afterAll(() => scapy?.close());

  it.for(COMBOS.map((c) => [label(c), c] as const))("scapy seals, ours opens the exact inner packet: %s", async ([, c], ctx) => {
    if (skip) return ctx.skip(skip);
    const { esp, keymat, spi, inb } = await saPair(c);
    const plan = c.esn ? ESN_PLAN : PLAIN_PLAN;
    const inner = await scapy.inner(payloadSizes(plan.length));
    const sealed = await scapy.request<{ packets: string[] }>({
      op: "seal",
      ...scapySa(c, spi, keymat),
      packets: plan.map(([hi, lo], i) => ({ inner: hex(inner[i]), seq: lo, esn: hi })),
    });
    const received = sealed.packets.map((h, i) => {
      const esp = outerToOurs(unhex(h), c.encap);
      const e = c.encap ? esp.subarray(8) : esp;
      expect(be32(e, 0)).toBe(spi);
      expect(be32(e, 4)).toBe(plan[i][1]);
      // IV (8) + inner + pad (to 4) + 2 + ICV
      expect(e.length).toBe(8 + 8 + inner[i].length + ((4 - ((inner[i].length + 2) % 4)) % 4) + 2 + c.icv);
      // RFC 4543: scapy's AES-GMAC leaves the inner packet on the wire; the others encrypt it.
      expect(hex(e.subarray(16, 16 + inner[i].length)) === hex(inner[i])).toBe(c.algo === "aes-gmac" && inner[i].length > 0);
      return esp;
    });
    const opened = openWithOurs(esp, received, c.encap);
    opened.forEach((r, i) => {
      const [hi, lo] = plan[i];
      const what = `packet ${i} (seq ${hi}:${lo.toString(16)}, ${inner[i].length} bytes)`;
      expect(r.reason, what).toBe("none");
      expect(r.spi, what).toBe(spi);
      expect(r.sequence, what).toBe((BigInt(hi) << 32n) | BigInt(lo));
      expect(r.nextHeader, what).toBe(41);
      expect(hex(r.payload!), what).toBe(hex(inner[i]));
    });
    expect(esp.stats(inb).packets).toBe(BigInt(plan.length));
    expect(esp.stats(inb).drops).toEqual({});
  });

  it.for(COMBOS.map((c) => [label(c), c] as const))("ours seals, scapy opens the exact inner packet: %s", async ([, c], ctx) => {
    if (skip) return ctx.skip(skip);
    const { esp, keymat, spi, out } = await saPair(c);
    // Sequence numbers 1..8, then from just below 2^32: with ESN across it into high = 1,
    // without ESN up to the last one, 2^32 − 1.
    const n = 8 + 15 + (c.esn ? 9 : 0);
    const inner = await scapy.inner(payloadSizes(n));
    const sent: Array<{ pkt: Uint8Array; seq: bigint }> = [];
    inner.forEach((p, i) => {
      if (i === 8) esp.setSequence(out, 0xfffffff0n);
      const bytes = esp.protectOne(out, p, 41);
      if (c.encap) {
        expect([be16(bytes, 0), be16(bytes, 2), be16(bytes, 4), be16(bytes, 6)]).toEqual([4500, 4500, bytes.length, 0]);
      }
      sent.push({ pkt: oursToOuter(bytes, c.encap, i), seq: esp.stats(out).sequence });
    });
    expect(sent[n - 1].seq).toBe(c.esn ? 0x100000008n : 0xffffffffn);
    if (!c.esn) expect(() => esp.protectOne(out, inner[0])).toThrow(expect.objectContaining({ code: "ERR_ESP_SEQ_EXHAUSTED" }));

    const hiOf = (s: bigint) => Number(s >> 32n);
    const res = await scapy.request<{ packets: OpenResult[] }>({
      op: "open",
      ...scapySa(c, spi, keymat),
      packets: sent.map((s) => ({ outer: hex(s.pkt), esn: hiOf(s.seq) })),
    });
    res.packets.forEach((r, i) => {
      const what = `packet ${i} (seq ${sent[i].seq.toString(16)}, ${inner[i].length} bytes)`;
      expect(r.error, what).toBeUndefined();
      expect(r.ok, what).toBe(true);
      expect(r.spi, what).toBe(spi);
      expect(r.seq, what).toBe(Number(sent[i].seq & 0xffffffffn));
      expect(r.udp, what).toBe(c.encap);
      expect(r.proto, what).toBe(41);
      expect(r.inner, what).toBe(hex(inner[i]));
      expect(r.summary, what).toMatch(i % 2 ? /^IPv6 \/ UDP / : /^IPv6 \/ ICMPv6 Echo Request/);
    });

    // Negative controls: a flipped bit (in the ciphertext, the ICV, the sequence number) and,
    // with ESN, the right low half with a wrong high half must all fail scapy's ICV check.
    const ipHdr = 20 + (c.encap ? 8 : 0);
    const last = sent[n - 1];
    const bad = [
      { outer: hex(flipBit(last.pkt, ipHdr + 16 + 3, 5)), esn: hiOf(last.seq) }, // ciphertext
      { outer: hex(flipBit(last.pkt, last.pkt.length - 1, 7)), esn: hiOf(last.seq) }, // ICV
      { outer: hex(flipBit(last.pkt, ipHdr + 7, 0)), esn: hiOf(last.seq) }, // sequence number (AAD)
      ...(c.esn ? [{ outer: hex(last.pkt), esn: hiOf(last.seq) - 1 }] : []), // ESN high half (AAD)
    ];
    const refused = await scapy.request<{ packets: OpenResult[] }>({ op: "open", ...scapySa(c, spi, keymat), packets: bad });
    for (const r of refused.packets) {
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/^IPSecIntegrityError/);
    }
  });

  it("ours refuses scapy's packets with a flipped bit, a replay, or a wrong ESN high half", async (ctx) => {
    if (skip) return ctx.skip(skip);
    for (const c of [COMBOS[0], COMBOS[3], COMBOS[5], COMBOS[10], ...CHACHA_COMBOS.slice(1, 3), ...GMAC_COMBOS.slice(1, 3)]) {
      const { esp, keymat, spi, inb } = await saPair(c);
      const inner = await scapy.inner([100, 33, 7, 500]);
      // Good packets 1 and 2; then sealed with high half 7 while ours can only infer 0.
      const plan: Array<[number, number]> = [[0, 1], [0, 2], [7, 3], [0, 4]];
      const sealed = await scapy.request<{ packets: string[] }>({
        op: "seal",
        ...scapySa(c, spi, keymat),
        packets: plan.map(([hi, lo], i) => ({ inner: hex(inner[i]), seq: lo, esn: hi })),
      });
      const pk = sealed.packets.map((h) => outerToOurs(unhex(h), c.encap));
      const u = c.encap ? 8 : 0;
      const cases: Array<[string, Uint8Array, string]> = [
        ["good 1", pk[0], "none"],
        ["ciphertext bit", flipBit(pk[1], u + 20, 2), "integrity-failure"],
        ["ICV bit", flipBit(pk[1], pk[1].length - 3, 6), "integrity-failure"],
        ["IV bit", flipBit(pk[1], u + 9, 1), "integrity-failure"],
        ["sequence bit (AAD)", flipBit(pk[1], u + 7, 2), "integrity-failure"],
        ["SPI bit", flipBit(pk[1], u + 3, 0), "unknown-spi"],
        ["good 2", pk[1], "none"],
        ["replay of 1", pk[0], "replayed"],
        ["replay of 2", pk[1], "replayed"],
        [c.esn ? "sealed with ESN high half 7" : "good 3 (no ESN: high half unused)", pk[2], c.esn ? "integrity-failure" : "none"],
        ["good 4", pk[3], "none"],
      ];
      const got = openWithOurs(esp, cases.map((x) => x[1]), c.encap);
      expect(got.map((g, i) => `${cases[i][0]}: ${g.reason}`)).toEqual(cases.map(([name, , want]) => `${name}: ${want}`));
      expect(hex(got[10].payload!)).toBe(hex(inner[3]));
    }
  });
});

// ---- tshark ----

function ipv6Addr(a: string): Uint8Array {
  const [head, tail] = a.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t].map((g) => parseInt(g, 16));
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

const INNER_UDP_PORTS = [50000, 50001] as const;

/** An IPv6 packet carrying UDP (17) or ICMPv6 echo request (58), with a correct checksum. */
function buildIpv6(kind: "udp" | "icmp", size: number): Uint8Array {
  const l4 = new Uint8Array(8 + size);
  l4.set(rng.bytes(size), 8);
  const dv = new DataView(l4.buffer);
  const nh = kind === "udp" ? 17 : 58;
  if (kind === "udp") {
    // Fixed ports that tshark is told to decode as plain data: random ports and payloads can
    // wake a UDP dissector (MIH on 4551, heuristics) that throws on random bytes, and an
    // exception in the inner packet makes tshark's ESP dissector leave out its ICV verdict.
    dv.setUint16(0, INNER_UDP_PORTS[0]);
    dv.setUint16(2, INNER_UDP_PORTS[1]);
    dv.setUint16(4, l4.length);
  } else {
    l4[0] = 128; // echo request
    dv.setUint16(4, rng.int(0, 0xffff));
    dv.setUint16(6, rng.int(0, 0xffff));
  }
  const pseudo = new Uint8Array(40 + l4.length);
  pseudo.set(ipv6Addr(INNER_SRC), 0);
  pseudo.set(ipv6Addr(INNER_DST), 16);
  new DataView(pseudo.buffer).setUint32(32, l4.length);
  pseudo[39] = nh;
  pseudo.set(l4, 40);
  let ck = inetChecksum(pseudo);
  if (kind === "udp" && ck === 0) ck = 0xffff;
  dv.setUint16(kind === "udp" ? 6 : 2, ck);
  const p = new Uint8Array(40 + l4.length);
  p[0] = 0x60;
  new DataView(p.buffer).setUint16(4, l4.length);
  p[6] = nh;
  p[7] = 64;
  p.set(ipv6Addr(INNER_SRC), 8);
  p.set(ipv6Addr(INNER_DST), 24);
  p.set(l4, 40);
  return p;
}

const TSHARK_FIELDS = [
  "frame.number", "ip.proto", "udp.srcport", "udp.dstport", "esp.spi", "esp.sequence",
  "esp.icv_good", "esp.icv_bad", "esp.pad_len", "esp.protocol", "esp.decrypted_data",
  "ipv6.src", "ipv6.dst", "ipv6.nxt", "udp.checksum.status", "icmpv6.checksum.status",
] as const;

describe("ESP interop with tshark (Wireshark's ESP decryption and ICV check)", () => {
  let skip: string | undefined;
  beforeAll(() => {
    skip = ensureDebian("/usr/bin/tshark", ["tshark"]);
  });

  it("tshark decrypts ours with a good ICV and finds the exact inner packet (ICV 8, 12, 16; raw and UDP 4500)", async (ctx) => {
    if (skip) return ctx.skip(skip);
    const esp = await createEsp({ capacity: 16 });
    const uat: string[] = [];
    const frames: Array<{ pkt: Uint8Array; spi: number; seq: number; inner: Uint8Array; icv: number; encap: boolean; tampered: boolean }> = [];
    let k = 0;
    for (const icv of [8, 12, 16] as const) {
      for (const encap of [false, true]) {
        const keymat = rng.bytes(([16, 24, 32] as const)[k++ % 3] + 4);
        const spi = rng.int(0x100, 0xffffffff);
        const out = esp.addOutbound({ spi, keymat, icvLength: icv, esn: false, encap: encap ? NAT_T : undefined });
        // Wireshark 4.0's esp_sa UAT: protocol, source, destination, SPI, encryption
        // algorithm, encryption key (AES key ‖ salt), authentication algorithm, key.
        uat.push(`"IPv4","${OUTER_SRC}","${OUTER_DST}","0x${spi.toString(16).padStart(8, "0")}","AES-GCM with ${icv} octet ICV [RFC4106]","0x${hex(keymat)}","NULL",""`);
        const sizes = payloadSizes(12);
        sizes.forEach((size, i) => {
          if (i === 8) esp.setSequence(out, 0xfffffffbn); // the last four: up to 2^32 − 1
          const inner = buildIpv6(i % 2 ? "udp" : "icmp", size);
          const pkt = oursToOuter(esp.protectOne(out, inner, 41), encap, frames.length);
          frames.push({ pkt, spi, seq: Number(esp.stats(out).sequence), inner, icv, encap, tampered: false });
        });
        // Negative control: the last packet again with one bit of ciphertext flipped.
        const last = frames[frames.length - 1];
        frames.push({ ...last, pkt: flipBit(last.pkt, 20 + (encap ? 8 : 0) + 16 + 5, 3), tampered: true });
      }
    }
    const dir = mkdtempSync(join(tmpdir(), "esp-tshark-"));
    try {
      writeFileSync(join(dir, "esp_sa"), uat.join("\n") + "\n");
      writeFileSync(join(dir, "ours.pcap"), writePcap(frames.map((f) => f.pkt), LINKTYPE_RAW));
      const r = spawnSync(
        "tshark",
        [
          "-r", join(dir, "ours.pcap"), "-n",
          "-o", "esp.enable_encryption_decode:TRUE",
          "-o", "esp.enable_authentication_check:TRUE",
          "-o", "udp.check_checksum:TRUE",
          ...INNER_UDP_PORTS.flatMap((p) => ["-d", `udp.port==${p},data`]),
          "-T", "fields", "-E", "separator=/t", "-E", "aggregator=|", "-E", "occurrence=a",
          ...TSHARK_FIELDS.flatMap((f) => ["-e", f]),
        ],
        { env: { ...process.env, WIRESHARK_CONFIG_DIR: dir }, encoding: "utf8", timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      const rows = r.stdout.trimEnd().split("\n").map((line) => {
        const cols = line.split("\t");
        return Object.fromEntries(TSHARK_FIELDS.map((f, i) => [f, (cols[i] ?? "").split("|").filter((x) => x !== "")]));
      });
      expect(rows.length).toBe(frames.length);
      rows.forEach((row, i) => {
        const f = frames[i];
        const what = `frame ${i + 1}: ${f.encap ? "UDP" : "raw"} ICV ${f.icv} seq ${f.seq} ${f.inner.length} bytes${f.tampered ? " (tampered)" : ""}`;
        expect(row["frame.number"], what).toEqual([String(i + 1)]);
        expect(row["ip.proto"], what).toEqual([f.encap ? "17" : "50"]);
        if (f.encap) expect(row["udp.srcport"].slice(0, 1), what).toEqual(["4500"]);
        expect(row["esp.spi"], what).toEqual([`0x${f.spi.toString(16).padStart(8, "0")}`]);
        expect(row["esp.sequence"], what).toEqual([String(f.seq)]);
        if (f.tampered) {
          expect(row["esp.icv_bad"], what).toEqual(["1"]);
          expect(row["esp.icv_good"], what).toEqual(["0"]);
          return;
        }
        expect(row["esp.icv_good"], what).toEqual(["1"]);
        expect(row["esp.icv_bad"], what).toEqual(["0"]);
        const pad = (4 - ((f.inner.length + 2) % 4)) % 4;
        expect(row["esp.pad_len"], what).toEqual([String(pad)]);
        expect(row["esp.protocol"], what).toEqual(["0x29"]);
        // The decrypted data: exactly our inner packet, then padding 1, 2, …, pad length, 41.
        const trailer = [...Array.from({ length: pad }, (_, j) => j + 1), pad, 41];
        expect(row["esp.decrypted_data"], what).toEqual([hex(f.inner) + hex(Uint8Array.from(trailer))]);
        expect(row["ipv6.src"], what).toEqual([INNER_SRC]);
        expect(row["ipv6.dst"], what).toEqual([INNER_DST]);
        expect(row["ipv6.nxt"], what).toEqual([String(f.inner[6])]);
        // The inner checksums verify (Wireshark's checksum status: 0 bad, 1 good, 2 unverified).
        if (f.inner[6] === 17) expect(row["udp.checksum.status"].at(-1), what).toBe("1");
        else expect(row["icmpv6.checksum.status"], what).toEqual(["1"]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("tshark 4.0 and the new algorithms: AES-GMAC framing in the clear (ICV unchecked), ChaCha20-Poly1305 headers only", async (ctx) => {
    if (skip) return ctx.skip(skip);
    const esp = await createEsp({ capacity: 16 });
    const uat: string[] = [];
    const frames: Array<{ pkt: Uint8Array; spi: number; seq: number; inner: Uint8Array; algo: EspAlgorithm; encap: boolean }> = [];
    for (const c of [...GMAC_COMBOS, ...CHACHA_COMBOS].filter((x) => !x.esn)) {
      const keymat = rng.bytes(c.keyLen + 4);
      const spi = rng.int(0x100, 0xffffffff);
      const out = esp.addOutbound({ spi, keymat, algorithm: c.algo, encap: c.encap ? NAT_T : undefined });
      // tshark 4.0 has no RFC 4543 / RFC 7634 entry (see the top of this file): "NULL" with an
      // unchecked 16-byte ICV is the closest it comes.
      uat.push(`"IPv4","${OUTER_SRC}","${OUTER_DST}","0x${spi.toString(16).padStart(8, "0")}","NULL","","ANY 128 bit authentication [no checking]",""`);
      payloadSizes(8).forEach((size, i) => {
        const inner = buildIpv6(i % 2 ? "udp" : "icmp", size);
        const pkt = oursToOuter(esp.protectOne(out, inner, 41), c.encap, frames.length);
        frames.push({ pkt, spi, seq: Number(esp.stats(out).sequence), inner, algo: c.algo, encap: c.encap });
      });
    }
    const dir = mkdtempSync(join(tmpdir(), "esp-tshark-"));
    try {
      // First: tshark 4.0 refuses the names newer Wiresharks use for these algorithms.
      for (const [enc, auth] of [["ChaCha20 with Poly1305 [RFC7634]", "NULL"], ["NULL", "GMAC with AES-128 [RFC4543]"]]) {
        writeFileSync(join(dir, "esp_sa"), `"IPv4","${OUTER_SRC}","${OUTER_DST}","0x00000100","${enc}","0x00","${auth}","0x00"\n`);
        writeFileSync(join(dir, "empty.pcap"), writePcap([], LINKTYPE_RAW));
        const r = spawnSync("tshark", ["-r", join(dir, "empty.pcap"), "-n"], { env: { ...process.env, WIRESHARK_CONFIG_DIR: dir }, encoding: "utf8", timeout: 60_000 });
        expect(r.stderr).toMatch(/esp_sa:1: invalid value/);
      }
      writeFileSync(join(dir, "esp_sa"), uat.join("\n") + "\n");
      writeFileSync(join(dir, "ours.pcap"), writePcap(frames.map((f) => f.pkt), LINKTYPE_RAW));
      const r = spawnSync(
        "tshark",
        [
          "-r", join(dir, "ours.pcap"), "-n",
          "-o", "esp.enable_encryption_decode:TRUE",
          "-o", "esp.enable_authentication_check:TRUE",
          "-T", "fields", "-E", "separator=/t", "-E", "aggregator=|", "-E", "occurrence=a",
          ...TSHARK_FIELDS.flatMap((f) => ["-e", f]),
        ],
        { env: { ...process.env, WIRESHARK_CONFIG_DIR: dir }, encoding: "utf8", timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      const rows = r.stdout.trimEnd().split("\n").map((line) => {
        const cols = line.split("\t");
        return Object.fromEntries(TSHARK_FIELDS.map((f, i) => [f, (cols[i] ?? "").split("|").filter((x) => x !== "")]));
      });
      expect(rows.length).toBe(frames.length);
      rows.forEach((row, i) => {
        const f = frames[i];
        const what = `frame ${i + 1}: ${f.algo} ${f.encap ? "UDP" : "raw"} seq ${f.seq} ${f.inner.length} bytes`;
        expect(row["ip.proto"], what).toEqual([f.encap ? "17" : "50"]);
        expect(row["esp.spi"], what).toEqual([`0x${f.spi.toString(16).padStart(8, "0")}`]);
        expect(row["esp.sequence"], what).toEqual([String(f.seq)]);
        const pad = (4 - ((f.inner.length + 2) % 4)) % 4;
        if (f.algo === "aes-gmac") {
          // Neither good nor bad: "ANY 128 bit authentication" is not checked.
          expect([row["esp.icv_good"], row["esp.icv_bad"]], what).toEqual([["0"], ["0"]]);
          // The clear payload, seen through tshark's 0-byte-IV assumption: IV ‖ inner ‖ trailer.
          expect(row["esp.pad_len"], what).toEqual([String(pad)]);
          expect(row["esp.protocol"], what).toEqual(["0x29"]);
          const iv = Buffer.alloc(8);
          iv.writeBigUInt64BE(BigInt(f.seq));
          const trailer = [...Array.from({ length: pad }, (_, j) => j + 1), pad, 41];
          expect(row["esp.decrypted_data"], what).toEqual([iv.toString("hex") + hex(f.inner) + hex(Uint8Array.from(trailer))]);
        } else {
          // Ciphertext: whatever tshark reads as a trailer is noise; the inner packet is not there.
          expect(row["ipv6.src"], what).toEqual([]);
        }
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
