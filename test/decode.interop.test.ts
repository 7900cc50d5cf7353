// `ipsec6in4 decode` against independent tools, on captures made in the test:
//
// 1. scapy's SecurityAssociation (test/interop/scapy_esp.py) seals IPv6 packets in ESP —
//    raw and in UDP 4500, AES-128/192/256-GCM with ICV 16, 12 and 8 — plus one tampered
//    packet per SA; the capture goes to our CLI (--esp-sa, --json) and to tshark with the same
//    esp_sa file, and every field of every packet must agree with tshark's view: SPI,
//    sequence number, ICV good/bad, next header, pad length, the decrypted data, IPv6 source
//    and destination, ICMPv6 type, inner UDP ports.
// 2. The same capture converted by Wireshark's own tools — editcap to pcapng, text2pcap to
//    Ethernet frames in pcapng — decodes to the same packets.
// 3. ESN (which tshark 4.0 cannot check): scapy seals across 2^32; ours infers every high half
//    and opens every packet to scapy's inner bytes.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureDebian } from "./helpers/apt.js";
import { writePcap } from "./helpers/pcap.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";
import { hex, runCli, udp6 } from "./fixtures/decode/packets.js";

const PYTHON = "/usr/bin/python3";
const SCAPY_SCRIPT = fileURLToPath(new URL("./interop/scapy_esp.py", import.meta.url));
const OUTER_SRC = "192.0.2.1";
const OUTER_DST = "192.0.2.2";
const INNER_SRC = "2001:db8:1::1";
const INNER_DST = "2001:db8:2::1";
const UDP_PORTS = [50000, 50001] as const; // decoded as plain data by tshark (see esp.interop.test.ts)

const seed = seedFromEnv(0xdec0_4303);
const rng = new Prng(seed);
const unhex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));

class Scapy {
  private readonly proc: ChildProcessWithoutNullStreams;
  private readonly waiting: Array<(v: any) => void> = [];
  constructor() {
    this.proc = spawn(PYTHON, [SCAPY_SCRIPT], { stdio: ["pipe", "pipe", "pipe"] });
    createInterface({ input: this.proc.stdout }).on("line", (l) => this.waiting.shift()?.(JSON.parse(l)));
  }
  async request<T = any>(req: object): Promise<T> {
    const r = await new Promise<any>((resolve) => {
      this.waiting.push(resolve);
      this.proc.stdin.write(JSON.stringify(req) + "\n");
    });
    if (r.error) throw new Error(`scapy_esp.py: ${r.error}\n${r.trace ?? ""}`);
    return r as T;
  }
  close(): void {
    this.proc.stdin.end(JSON.stringify({ op: "quit" }) + "\n");
  }
}

interface Sa {
  spi: number;
  keymat: Uint8Array;
  icv: 8 | 12 | 16;
  encap: boolean;
  esn: boolean;
}

const SAS: Sa[] = [
  { spi: 0x1001, keymat: rng.bytes(20), icv: 16, encap: false, esn: false },
  { spi: 0x1002, keymat: rng.bytes(36), icv: 12, encap: true, esn: false },
  { spi: 0x1003, keymat: rng.bytes(28), icv: 8, encap: false, esn: false },
  { spi: 0x1004, keymat: rng.bytes(20), icv: 16, encap: true, esn: false },
];

const uatLine = (s: Sa) =>
  `"IPv4","${OUTER_SRC}","${OUTER_DST}","0x${s.spi.toString(16).padStart(8, "0")}","AES-GCM with ${s.icv} octet ICV [RFC4106]","0x${hex(s.keymat)}","NULL",""`;

async function seal(scapy: Scapy, sa: Sa, inner: Uint8Array[], seqs: Array<[number, number]>): Promise<Uint8Array[]> {
  const r = await scapy.request<{ packets: string[] }>({
    op: "seal",
    spi: sa.spi,
    keymat: hex(sa.keymat),
    icv: sa.icv,
    esn_en: sa.esn,
    encap: sa.encap,
    src: OUTER_SRC,
    dst: OUTER_DST,
    packets: inner.map((p, i) => ({ inner: hex(p), seq: seqs[i][1], esn: seqs[i][0] })),
  });
  return r.packets.map(unhex);
}

const FIELDS = [
  "frame.number", "esp.spi", "esp.sequence", "esp.icv_good", "esp.icv_bad", "esp.pad_len", "esp.protocol",
  "esp.decrypted_data", "ipv6.src", "ipv6.dst", "icmpv6.type", "udp.srcport", "udp.dstport",
] as const;

function tshark(dir: string, file: string): Array<Record<string, string[]>> {
  const r = spawnSync(
    "tshark",
    [
      "-r", file, "-n",
      "-o", "esp.enable_encryption_decode:TRUE",
      "-o", "esp.enable_authentication_check:TRUE",
      ...UDP_PORTS.flatMap((p) => ["-d", `udp.port==${p},data`]),
      "-T", "fields", "-E", "separator=/t", "-E", "aggregator=|", "-E", "occurrence=a",
      ...FIELDS.flatMap((f) => ["-e", f]),
    ],
    { env: { ...process.env, WIRESHARK_CONFIG_DIR: dir }, encoding: "utf8", timeout: 60_000 },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.trimEnd().split("\n").map((line) => {
    const cols = line.split("\t");
    return Object.fromEntries(FIELDS.map((f, i) => [f, (cols[i] ?? "").split("|").filter((x) => x !== "")]));
  });
}

describe(`decode against scapy-built ESP and tshark's view of it (seed ${seed})`, () => {
  let skip: string | undefined;
  let scapy: Scapy;
  const dir = mkdtempSync(join(tmpdir(), "decode-interop-"));

  beforeAll(() => {
    skip =
      ensureDebian("/usr/lib/python3/dist-packages/scapy/__init__.py", ["python3-scapy", "python3-cryptography"]) ??
      ensureDebian("/usr/bin/tshark", ["tshark"]);
    if (!skip) scapy = new Scapy();
  });
  afterAll(() => {
    scapy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("every field of every packet as tshark shows it; pcapng from editcap and Ethernet from text2pcap decode the same", async (ctx) => {
    if (skip) return ctx.skip(skip);
    const frames: Uint8Array[] = [];
    const expectInner: Array<{ sa: Sa; inner: Uint8Array; seq: number; tampered: boolean }> = [];
    for (const sa of SAS) {
      const sizes = [0, 1, 2, 3, 60, 255, 1000, rng.int(0, 1200)];
      const icmp = await scapy.request<{ packets: string[] }>({
        op: "inner",
        packets: sizes.filter((_, i) => i % 2 === 0).map((size) => ({ kind: "icmp", size, seed: rng.u32() })),
      });
      const inner = sizes.map((size, i) => (i % 2 === 0 ? unhex(icmp.packets[i / 2]) : udp6(INNER_SRC, INNER_DST, UDP_PORTS[0], UDP_PORTS[1], rng.bytes(size))));
      const seqs = inner.map((_, i): [number, number] => [0, i < 6 ? i + 1 : 0xfffffffe + (i - 6)]);
      const sealed = await seal(scapy, sa, inner, seqs);
      sealed.forEach((p, i) => {
        frames.push(p);
        expectInner.push({ sa, inner: inner[i], seq: seqs[i][1], tampered: false });
      });
      // Negative control: the first packet again with a bit of its ciphertext flipped.
      const t = sealed[0].slice();
      t[20 + (sa.encap ? 8 : 0) + 16 + 2] ^= 0x10;
      frames.push(t);
      expectInner.push({ sa, inner: inner[0], seq: 1, tampered: true });
    }
    writeFileSync(join(dir, "esp_sa"), SAS.map(uatLine).join("\n") + "\n");
    const cap = join(dir, "scapy.pcap");
    writeFileSync(cap, writePcap(frames, 101));

    const ours = await runCli("decode", [cap, "--esp-sa", join(dir, "esp_sa"), "--json"]);
    expect(ours.err).toBe("");
    expect(ours.status).toBe(0);
    const pk = ours.out.trimEnd().split("\n").map((l) => JSON.parse(l));
    const rows = tshark(dir, cap);
    expect(pk.length).toBe(frames.length);
    expect(rows.length).toBe(frames.length);

    pk.forEach((p, i) => {
      const row = rows[i];
      const x = expectInner[i];
      const what = `frame ${i + 1}: SPI ${x.sa.spi.toString(16)} ICV ${x.sa.icv} ${x.sa.encap ? "UDP" : "raw"} seq ${x.seq}${x.tampered ? " (tampered)" : ""}`;
      const esp = p.layers.find((l: any) => l.name === "esp");
      const v6 = p.layers.find((l: any) => l.name === "ipv6");
      const icmp = p.layers.find((l: any) => l.name === "icmpv6");
      const udps = p.layers.filter((l: any) => l.name === "udp");
      expect(row["frame.number"], what).toEqual([String(p.frame)]);
      // SPI, sequence number: tshark's and scapy's.
      expect(row["esp.spi"], what).toEqual([`0x${esp.spi.toString(16).padStart(8, "0")}`]);
      expect(esp.spi, what).toBe(x.sa.spi);
      expect(row["esp.sequence"], what).toEqual([String(esp.seq)]);
      expect(esp.seq, what).toBe(x.seq);
      // ICV verdict.
      expect(row["esp.icv_good"], what).toEqual([esp.icv === "ok" ? "1" : "0"]);
      expect(row["esp.icv_bad"], what).toEqual([esp.icv === "bad" ? "1" : "0"]);
      expect(esp.icv, what).toBe(x.tampered ? "bad" : "ok");
      expect(p.verdict, what).toBe(x.tampered ? "integrity-failure" : "ok");
      if (x.tampered) return;
      // Trailer and decrypted data: tshark's decrypted data is payload ‖ padding ‖ pad length ‖ next header.
      expect(row["esp.pad_len"], what).toEqual([String(esp.padLength)]);
      expect(row["esp.protocol"], what).toEqual([`0x${esp.nextHeader.toString(16).padStart(2, "0")}`]);
      const trailer = Uint8Array.from([...Array.from({ length: esp.padLength }, (_, j) => j + 1), esp.padLength, esp.nextHeader]);
      expect(row["esp.decrypted_data"], what).toEqual([esp.payload + hex(trailer)]);
      expect(esp.payload, what).toBe(hex(x.inner));
      // Inner IPv6 and upper layer.
      expect(row["ipv6.src"], what).toEqual([v6.src]);
      expect(row["ipv6.dst"], what).toEqual([v6.dst]);
      expect([v6.src, v6.dst], what).toEqual([INNER_SRC, INNER_DST]);
      expect(row["icmpv6.type"], what).toEqual(icmp ? [String(icmp.type)] : []);
      expect(row["udp.srcport"], what).toEqual(udps.map((u: any) => String(u.srcPort)));
      expect(row["udp.dstport"], what).toEqual(udps.map((u: any) => String(u.dstPort)));
      expect((icmp ?? udps.at(-1)).checksumOk, what).toBe(true);
    });

    // Wireshark's own writers: editcap to pcapng; text2pcap to Ethernet frames (in pcapng).
    const ng = join(dir, "scapy.pcapng");
    expect(spawnSync("editcap", ["-F", "pcapng", cap, ng]).status).toBe(0);
    const dump = frames
      .map((f) => {
        const lines: string[] = [];
        for (let o = 0; o < f.length; o += 16) lines.push(`${o.toString(16).padStart(6, "0")}  ${Array.from(f.subarray(o, o + 16), (b) => b.toString(16).padStart(2, "0")).join(" ")}`);
        return lines.join("\n") + "\n";
      })
      .join("\n");
    writeFileSync(join(dir, "dump.txt"), dump);
    const eth = join(dir, "eth.pcapng");
    const t2p = spawnSync("text2pcap", ["-q", "-e", "0x800", join(dir, "dump.txt"), eth], { encoding: "utf8" });
    expect(t2p.status, t2p.stderr).toBe(0);
    const strip = (out: string) => out.trimEnd().split("\n").map((l) => {
      const o = JSON.parse(l);
      return { frame: o.frame, verdict: o.verdict, layers: o.layers.filter((x: any) => x.name !== "eth") };
    });
    const want = strip(ours.out);
    for (const f of [ng, eth]) {
      const r = await runCli("decode", [f, "--esp-sa", join(dir, "esp_sa"), "--json"]);
      expect(r.status, f).toBe(0);
      expect(strip(r.out), f).toEqual(want);
      if (f === eth) expect(JSON.parse(r.out.split("\n")[0]).layers[0].name).toBe("eth");
    }
  });

  it("ESN: scapy seals across 2^32 and 2^33; ours infers every high half from esn=0 and opens to scapy's bytes", async (ctx) => {
    if (skip) return ctx.skip(skip);
    const sa: Sa = { spi: 0x2001, keymat: rng.bytes(36), icv: 16, encap: true, esn: true };
    // Jumps stay below 2^31 ahead of the highest number seen, as RFC 4303 A2.2 needs.
    const plan: Array<[number, number]> = [
      [0, 1], [0, 2], [0, 0x80000000], [0, 0xfffffffe], [0, 0xffffffff], [1, 0], [1, 1], [0, 0xfffffff0],
      [1, 2], [1, 0x70000000], [1, 0xe0000000], [1, 0xffffffff], [2, 5], [1, 0xfffffff9], [2, 6],
    ];
    const icmp = await scapy.request<{ packets: string[] }>({ op: "inner", packets: plan.map(() => ({ kind: "icmp", size: rng.int(0, 200), seed: rng.u32() })) });
    const inner = icmp.packets.map(unhex);
    const sealed = await seal(scapy, sa, inner, plan);
    const cap = join(dir, "esn.pcap");
    writeFileSync(cap, writePcap(sealed, 101));
    const spec = `spi=0x${sa.spi.toString(16)},enc=aes256gcm16,key=0x${hex(sa.keymat)},esn=0`;
    const r = await runCli("decode", [cap, "--sa", spec, "--json"]);
    expect(r.status).toBe(0);
    const pk = r.out.trimEnd().split("\n").map((l) => JSON.parse(l));
    pk.forEach((p, i) => {
      const esp = p.layers.find((l: any) => l.name === "esp");
      const what = `packet ${i}: ${plan[i][0]}:${plan[i][1].toString(16)}`;
      expect(esp.icv, what).toBe("ok");
      expect(esp.seq, what).toBe(plan[i][0] * 2 ** 32 + plan[i][1]);
      expect(esp.seqHigh, what).toBe(plan[i][0]);
      expect(esp.payload, what).toBe(hex(inner[i]));
    });
  });
});
