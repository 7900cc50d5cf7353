// The RFC 4891 pipelines end to end, table-driven over the scenarios of RFC 4891 §3
// (router-to-router, site-to-router, host-to-host), each in transport mode (§5.1) and tunnel
// mode (Appendix A). Two dataplanes talk through their outer IPv4 packets; attack packets
// are built independently (bench/esp-node-crypto.mjs over node:crypto) so that the receiver's
// checks, not the sender's, are what is tested.
import { describe, expect, it } from "vitest";
import { parseIPv6, parsePrefix, prefixRange, parseIp, hostRange, type AddrRange } from "../src/addr.js";
import { createDataplane, type Dataplane, type PipelineBatch, type SaSelectors } from "../src/pipeline.js";
import { Spd, PROTO, type SpdEntry } from "../src/spd.js";
import { ipv4HeaderChecksum } from "../src/reassembly.js";
import { espSealNode } from "../bench/esp-node-crypto.mjs";
import { Prng } from "./helpers/prng.js";
import { fragmentIPv4 } from "./helpers/ipv4.js";

const rng = new Prng(4891);
const TEP1 = "192.0.2.1";
const TEP2 = "192.0.2.2";
const ALL: AddrRange = prefixRange(parsePrefix("::/0")!);

/** An ICMPv6 echo request (checksum not needed by the tunnel) from src to dst. */
function ipv6(src: string, dst: string, payload = rng.int(0, 1200), nh = 58): Uint8Array {
  const p = new Uint8Array(48 + payload);
  const v = new DataView(p.buffer);
  v.setUint32(0, 0x60000000 | (rng.int(0, 255) << 20));
  v.setUint16(4, 8 + payload);
  p[6] = nh;
  p[7] = 64;
  p.set(parseIPv6(src)!, 8);
  p.set(parseIPv6(dst)!, 24);
  p[40] = 128;
  p.set(rng.bytes(payload), 48);
  return p;
}

function ipv4(src: string, dst: string, proto: number, body: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + body.length);
  p.set([0x45, 0, p.length >> 8, p.length & 0xff, 0, 1, 0, 0, 64, proto, 0, 0, ...parseIp(src)!.bytes, ...parseIp(dst)!.bytes]);
  p.set(body, 20);
  const c = ipv4HeaderChecksum(p.subarray(0, 20));
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}

function udp(sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const u = new Uint8Array(8 + payload.length);
  const v = new DataView(u.buffer);
  v.setUint16(0, sport);
  v.setUint16(2, dport);
  v.setUint16(4, u.length);
  u.set(payload, 8);
  return u;
}

/** Rewrite the outer IPv4 source (and the checksum). */
function spoofSource(pkt: Uint8Array, src: string): Uint8Array {
  const p = pkt.slice();
  p.set(parseIp(src)!.bytes, 12);
  p[10] = p[11] = 0;
  const c = ipv4HeaderChecksum(p.subarray(0, 20));
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}

interface Scenario {
  name: string;
  mode: "transport" | "tunnel";
  /** Inner addresses of the two sides' traffic, and what each side routes and allows. */
  a: { addr: string; routes: string[]; allow: string[]; sel?: SaSelectors };
  b: { addr: string; routes: string[]; allow: string[]; sel?: SaSelectors };
  aHost: string; // an inner address on A's side
  bHost: string; // an inner address on B's side
}

const r = (p: string) => prefixRange(parsePrefix(p)!);
const h = (a: string) => hostRange(parseIp(a)!);

const SCENARIOS: Scenario[] = [
  // §3.1: the prefixes behind each router are learned by routing; ingress filtering does the work.
  ...(["transport", "tunnel"] as const).map((mode) => ({
    name: `router-to-router (§3.1), ${mode} mode`,
    mode,
    a: { addr: "2001:db8:ffff::1/64", routes: ["2001:db8:2::/48"], allow: ["2001:db8:2::/48"], sel: mode === "tunnel" ? { local: [ALL], remote: [ALL] } : undefined },
    b: { addr: "2001:db8:ffff::2/64", routes: ["2001:db8:1::/48"], allow: ["2001:db8:1::/48"], sel: mode === "tunnel" ? { local: [ALL], remote: [ALL] } : undefined },
    aHost: "2001:db8:1::10",
    bHost: "2001:db8:2::20",
  })),
  // §3.2 / Appendix A.3: the site has a /48 from the router; the router checks the site's sources.
  ...(["transport", "tunnel"] as const).map((mode) => ({
    name: `site-to-router (§3.2, A.3), ${mode} mode`,
    mode,
    a: { addr: "2001:db8:5::1/64", routes: ["::/0"], allow: ["::/0"], sel: mode === "tunnel" ? { local: [r("2001:db8:5::/48")], remote: [ALL] } : undefined },
    b: { addr: "2001:db8:ffff::2/64", routes: ["2001:db8:5::/48"], allow: ["2001:db8:5::/48"], sel: mode === "tunnel" ? { local: [ALL], remote: [r("2001:db8:5::/48")] } : undefined },
    aHost: "2001:db8:5::10",
    bHost: "2001:db8:7::20",
  })),
  // §3.3 / Appendix A.2: the two hosts' addresses are known; a tunnel-mode SA binds them.
  ...(["transport", "tunnel"] as const).map((mode) => ({
    name: `host-to-host (§3.3, A.2), ${mode} mode`,
    mode,
    a: { addr: "2001:db8:a::1/128", routes: ["2001:db8:b::1/128"], allow: ["2001:db8:b::1/128"], sel: mode === "tunnel" ? { local: [h("2001:db8:a::1")], remote: [h("2001:db8:b::1")] } : undefined },
    b: { addr: "2001:db8:b::1/128", routes: ["2001:db8:a::1/128"], allow: ["2001:db8:a::1/128"], sel: mode === "tunnel" ? { local: [h("2001:db8:b::1")], remote: [h("2001:db8:a::1")] } : undefined },
    aHost: "2001:db8:a::1",
    bHost: "2001:db8:b::1",
  })),
];

/** RFC 4891 §5.1's SPD for one side, with `order` deciding where the protocol-41 entry stands. */
function spdFor(local: string, remote: string, first?: SpdEntry): Spd {
  const sel = { local: [h(local)], remote: [h(remote)] };
  const entries: SpdEntry[] = [
    { name: "esp", selectors: { ...sel, protocol: PROTO.ESP }, action: "bypass" },
    { name: "ike", selectors: { ...sel, protocol: PROTO.UDP, remotePorts: [{ start: 500, end: 500 }, { start: 4500, end: 4500 }] }, action: "bypass" },
    { name: "6in4", selectors: { ...sel, protocol: 41 }, action: "protect", protect: { mode: "transport" } },
  ];
  return new Spd(first ? [first, ...entries] : entries);
}

interface Side {
  dp: Dataplane;
  keymatOut: Uint8Array;
  spiOut: number;
  seq: number;
}

async function setup(s: Scenario, encap = false): Promise<{ A: Side; B: Side }> {
  const kAB = rng.bytes(20);
  const kBA = rng.bytes(20);
  const mk = async (me: Scenario["a"], local: string, remote: string, out: [number, Uint8Array], inb: [number, Uint8Array]) => {
    const dp = await createDataplane({ sas: 8, tunnels: 4 });
    dp.addTunnel({ name: "t1", local, remote, address: me.addr, routes: me.routes, allow: me.allow });
    dp.applySpd(spdFor(local, remote));
    const o = dp.esp.addOutbound({ spi: out[0], keymat: out[1], encap: encap ? { sourcePort: 4500, destinationPort: 4500 } : undefined });
    const i = dp.esp.addInbound({ spi: inb[0], keymat: inb[1], replayWindow: 64 });
    dp.bindSa(o, "t1", me.sel);
    dp.bindSa(i, "t1", me.sel);
    return { dp, keymatOut: out[1], spiOut: out[0], seq: 0 };
  };
  const A = await mk(s.a, TEP1, TEP2, [0xa0b0, kAB], [0xb0a0, kBA]);
  const B = await mk(s.b, TEP2, TEP1, [0xb0a0, kBA], [0xa0b0, kAB]);
  return { A, B };
}

/** Run packets through `from`'s outbound; return the outer packets (copies). */
function send(from: Side, inner: Uint8Array[]): { out: Uint8Array[]; batch: PipelineBatch } {
  const b = from.dp.createBatch({ packets: inner.length });
  inner.forEach((p) => b.addPacket(p));
  from.dp.outbound(b);
  const out: Uint8Array[] = [];
  for (let i = 0; i < b.length; i++) if (b.verdict(i) === "send") out.push(b.output(i).slice());
  from.seq += out.length;
  return { out, batch: b };
}

function receive(to: Side, outer: Uint8Array[]): { verdicts: string[]; delivered: Uint8Array[] } {
  const b = to.dp.createBatch({ packets: Math.max(outer.length, 1) + 8 });
  outer.forEach((p) => b.addPacket(p));
  to.dp.inbound(b);
  const verdicts: string[] = [];
  const delivered: Uint8Array[] = [];
  for (let i = 0; i < b.length; i++) {
    const v = b.verdict(i);
    verdicts.push(v === "dropped" ? b.reason(i) : v);
    if (v === "deliver") delivered.push(b.output(i).slice());
  }
  b.destroy();
  return { verdicts, delivered };
}

/**
 * An authentic ESP packet from `from`'s SA carrying `inner`, built independently (the peer
 * itself misbehaving: threat 2). Its sequence numbers start at 1000, far ahead of the
 * dataplane's own, so genuine traffic sent after them must continue past them.
 */
let forgeSeq = 1000;
function forged(from: Side, srcV4: string, dstV4: string, inner: Uint8Array): Uint8Array {
  return ipv4(srcV4, dstV4, 50, espSealNode({ spi: from.spiOut, keymat: from.keymatOut, seq: forgeSeq++ }, inner));
}

describe.each(SCENARIOS)("$name", (s) => {
  it("carries traffic both ways, byte for byte, as RFC 4891 Table 1 packets", async () => {
    const { A, B } = await setup(s);
    const ab = Array.from({ length: 20 }, () => ipv6(s.aHost, s.bHost));
    const ba = Array.from({ length: 20 }, () => ipv6(s.bHost, s.aHost));
    const { out: wireAB } = send(A, ab);
    const { out: wireBA } = send(B, ba);
    expect(wireAB.length).toBe(20);
    for (const w of wireAB) {
      expect(w[9]).toBe(50); // IPv4 | ESP
      expect([...w.subarray(12, 20)]).toEqual([192, 0, 2, 1, 192, 0, 2, 2]);
      expect(w[6] & 0x40).toBe(0); // RFC 4213 §3.2.1: no DF with the static MTU
    }
    const rb = receive(B, wireAB);
    const ra = receive(A, wireBA);
    expect(rb.verdicts).toEqual(Array(20).fill("deliver"));
    expect(ra.verdicts).toEqual(Array(20).fill("deliver"));
    rb.delivered.forEach((p, i) => expect(Buffer.compare(p, ab[i])).toBe(0));
    ra.delivered.forEach((p, i) => expect(Buffer.compare(p, ba[i])).toBe(0));
  });

  it("threat 1: a spoofed outer IPv4 source is dropped with its reason", async () => {
    const { A, B } = await setup(s);
    const { out } = send(A, [ipv6(s.aHost, s.bHost), ipv6(s.aHost, s.bHost)]);
    const spoofed = spoofSource(out[0], "198.51.100.66");
    // Clear-text 41 from the spoofed source matches no tunnel at all.
    const clear = ipv4("198.51.100.66", TEP2, 41, ipv6(s.aHost, s.bHost));
    if (s.mode === "transport") {
      // The SA is bound to the IPv4 endpoints (RFC 4891 §2.1); checked before decryption.
      expect(receive(B, [spoofed, clear]).verdicts).toEqual(["spoofed-outer-source", "no-tunnel"]);
      expect(receive(B, [out[0], out[1]]).verdicts).toEqual(["deliver", "deliver"]); // state unchanged
    } else {
      // RFC 4891 §2.2: in tunnel mode the outer address is irrelevant once ESP verified; what a
      // spoofer can send is a replay (dropped) or a forgery (dropped).
      expect(receive(B, [out[0], spoofed]).verdicts).toEqual(["deliver", "replayed"]);
      const junk = spoofSource(out[1], "198.51.100.66");
      junk[40] ^= 1;
      expect(receive(B, [junk, clear]).verdicts).toEqual(["integrity-failure", "no-tunnel"]);
    }
  });

  it("threat 2 and checks 3/5: each class of spoofed inner source is dropped with its reason", async () => {
    const { A, B } = await setup(s);
    const cases: [string, string][] = [
      ["::", "inner-unspecified"],
      ["::1", "inner-loopback"],
      ["ff02::1", "inner-multicast"],
      ["::ffff:192.0.2.9", "inner-v4-mapped"],
      ["::192.0.2.9", "inner-v4-compatible"],
      // Outside what the tunnel accepts: the ingress filter (transport) or the SA's selectors.
      ["2001:db8:bad::1", "ingress-prefix"],
    ];
    const pkts = cases.map(([src]) => forged(A, TEP1, TEP2, ipv6(src, s.bHost)));
    const v = receive(B, pkts).verdicts;
    expect(v).toEqual(cases.map((c) => c[1]));
    if (s.mode === "tunnel" && s.name.startsWith("host")) {
      // Inside the ingress filter but outside the SA's selectors: check 5. Allow a wider prefix to show it.
      const { A: A2, B: B2 } = await setup({ ...s, b: { ...s.b, allow: ["2001:db8:a::/48"] } });
      const p = forged(A2, TEP1, TEP2, ipv6("2001:db8:a::99", s.bHost));
      expect(receive(B2, [p]).verdicts).toEqual(["selector-mismatch"]);
    }
    // ESP accepted those packets (their window bits are set: a replay of one is "replayed"),
    // and only the tunnel checks refused them; genuine traffic after them flows.
    expect(receive(B, [pkts[0]]).verdicts).toEqual(["replayed"]);
    A.dp.esp.setSequence(A.dp.tunnelByIndex(0)!.outboundSa!, BigInt(forgeSeq + 10));
    const { out } = send(A, [ipv6(s.aHost, s.bHost)]);
    expect(receive(B, out).verdicts).toEqual(["deliver"]);
  });

  it("IKE is bypassed to the control plane; NAT-keepalives are consumed", async () => {
    const { B } = await setup(s);
    const ikeMsg = rng.bytes(28);
    const v = receive(B, [
      ipv4(TEP1, TEP2, 17, udp(500, 500, ikeMsg)),
      ipv4(TEP1, TEP2, 17, udp(4500, 4500, new Uint8Array([0, 0, 0, 0, ...ikeMsg]))),
      ipv4(TEP1, TEP2, 17, udp(4500, 4500, new Uint8Array([0xff]))),
      ipv4(TEP1, TEP2, 17, udp(5353, 53, rng.bytes(20))),
    ]).verdicts;
    expect(v).toEqual(["ike", "ike", "keepalive", "other"]);
  });

  it("SPD entry order decides: PROTECT drops clear-text 41, an earlier BYPASS admits it, DISCARD stops both", async () => {
    const { A, B } = await setup(s);
    const clear = () => ipv4(TEP1, TEP2, 41, ipv6(s.aHost, s.bHost));
    expect(receive(B, [clear()]).verdicts).toEqual(["cleartext-protected"]);
    const sel = { local: [h(TEP2)], remote: [h(TEP1)] };
    B.dp.applySpd(spdFor(TEP2, TEP1, { name: "plain", selectors: { ...sel, protocol: 41 }, action: "bypass" }));
    expect(receive(B, [clear()]).verdicts).toEqual(["deliver"]);
    B.dp.applySpd(spdFor(TEP2, TEP1, { name: "deny", selectors: { ...sel, protocol: 41 }, action: "discard" }));
    const { out } = send(A, [ipv6(s.aHost, s.bHost)]);
    expect(receive(B, [clear(), out[0]]).verdicts).toEqual(["policy-discard", "policy-discard"]);
    const { batch } = send(B, [ipv6(s.bHost, s.aHost)]);
    expect(batch.reason(0)).toBe("policy-discard");
  });

  it("nothing is delivered twice: replays across and within batches are dropped", async () => {
    const { A, B } = await setup(s);
    const inner = Array.from({ length: 10 }, () => ipv6(s.aHost, s.bHost));
    const { out } = send(A, inner);
    const first = receive(B, [...out, out[3], out[7]]);
    expect(first.verdicts).toEqual([...Array(10).fill("deliver"), "replayed", "replayed"]);
    expect(receive(B, out).verdicts).toEqual(Array(10).fill("replayed"));
  });
});

describe("pipeline details", () => {
  const s = SCENARIOS[0];

  it("several tunnel-mode CHILD_SAs on one tunnel: each packet leaves with the most specific, then newest, SA whose selectors cover it (RFC 4301 §5.1); none covering it: selector-mismatch", async () => {
    const dp = await createDataplane({ sas: 8, tunnels: 2 });
    dp.addTunnel({ name: "t", local: TEP1, remote: TEP2, address: "2001:db8:ffff::1/64", routes: ["2001:db8:2::/48"], allow: ["2001:db8:2::/48"] });
    const keymat = rng.bytes(20);
    const sel = (n: number) => ({ local: [r(`2001:db8:1:${n}::/64`)], remote: [r(`2001:db8:2:${n}::/64`)] });
    const sa1 = dp.esp.addOutbound({ spi: 0x100, keymat });
    const sa2 = dp.esp.addOutbound({ spi: 0x200, keymat });
    const sa2b = dp.esp.addOutbound({ spi: 0x201, keymat });
    dp.bindSa(sa1, "t", sel(1));
    dp.bindSa(sa2, "t", sel(2));
    const spiOf = (n: number): string => {
      const b = dp.createBatch({ packets: 1 });
      b.addPacket(ipv6(`2001:db8:1:${n}::10`, `2001:db8:2:${n}::20`, 40));
      dp.outbound(b);
      return b.verdict(0) === "send" ? new DataView(b.output(0).buffer, b.output(0).byteOffset).getUint32(20).toString(16) : b.reason(0);
    };
    expect([spiOf(1), spiOf(2), spiOf(3)]).toEqual(["100", "200", "selector-mismatch"]);
    dp.bindSa(sa2b, "t", sel(2)); // a rekey of the second: make-before-break
    expect([spiOf(1), spiOf(2)]).toEqual(["100", "201"]);
    dp.removeSa(sa2b);
    expect([spiOf(1), spiOf(2)]).toEqual(["100", "200"]);
    dp.removeSa(sa2);
    expect([spiOf(1), spiOf(2)]).toEqual(["100", "selector-mismatch"]);
    dp.bindSa(sa1, "t", sel(1)); // bound again: still once in the list
    dp.removeSa(sa1);
    expect(spiOf(1)).toBe("no-outbound-sa");
    // Most specific first, whichever came last (as the kernel orders strongSwan's policies): a
    // wide CHILD_SA (/48s) and then a transport-mode SA (everything) leave the /64s to sa3.
    const sa3 = dp.esp.addOutbound({ spi: 0x300, keymat });
    const wide = dp.esp.addOutbound({ spi: 0x350, keymat });
    const transport = dp.esp.addOutbound({ spi: 0x400, keymat });
    dp.bindSa(sa3, "t", sel(1));
    dp.bindSa(wide, "t", { local: [r("2001:db8:1::/48")], remote: [r("2001:db8:2::/48")] });
    expect([spiOf(1), spiOf(3)]).toEqual(["300", "350"]);
    dp.bindSa(transport, "t");
    expect([spiOf(1), spiOf(3)]).toEqual(["300", "350"]);
    dp.removeSa(wide);
    expect([spiOf(1), spiOf(3)]).toEqual(["300", "400"]);
  });

  it("a reassembled datagram larger than the batch's slots is dropped as no-room, and traffic goes on", async () => {
    // Before: it went to the backlog, and every later inbound() threw ERR_BATCH_FULL adding it.
    const { A, B } = await setup(s);
    const big = forged(A, TEP1, TEP2, ipv6(s.aHost, s.bHost, 2400)); // 2,500 bytes > 2,048 − 64
    const r = receive(B, fragmentIPv4(big, 1024));
    expect(r.verdicts).toEqual(["fragment", "fragment", "fragment"]);
    expect(B.dp.drops()).toEqual({ "no-room": 1n });
    expect([B.dp.reassembler.pending, B.dp.reassembler.bytesHeld]).toEqual([0, 0]);
    const inner = ipv6(s.aHost, s.bHost, 100);
    const next = receive(B, send(A, [inner]).out);
    expect(next.verdicts).toEqual(["deliver"]);
    expect(Buffer.compare(next.delivered[0], inner)).toBe(0);
    expect(B.dp.drops()).toEqual({ "no-room": 1n });
  });

  it("the backlog of reassembled datagrams waiting for room is bounded (256); the rest are no-room drops", async () => {
    const { A, B } = await setup(s);
    const batch = B.dp.createBatch({ packets: 64 });
    let sent = 0;
    for (let call = 0; call < 10; call++) {
      batch.clear();
      // 64 fragments, 32 datagrams: none fits in the full batch, all go to the backlog.
      for (let k = 0; k < 32; k++) {
        const esp = forged(A, TEP1, TEP2, ipv6(s.aHost, s.bHost, 100));
        for (const f of fragmentIPv4(esp, Math.ceil((esp.length - 20) / 16) * 8)) batch.addPacket(f); // two halves
      }
      sent += 32;
      expect(B.dp.inbound(batch)).toBe(0);
    }
    expect(B.dp.drops()).toEqual({ "no-room": BigInt(sent - 256) });
    let delivered = 0;
    for (let call = 0; call < 6; call++) {
      batch.clear();
      delivered += B.dp.inbound(batch);
    }
    expect(delivered).toBe(256);
    expect(B.dp.drops()).toEqual({ "no-room": BigInt(sent - 256) });
  });

  it("an inner packet above the tunnel MTU becomes an ICMPv6 Packet Too Big to its sender", async () => {
    const { A } = await setup(s);
    const big = ipv6(s.aHost, s.bHost, 1400);
    const { batch } = send(A, [big, ipv6(s.aHost, s.bHost, 1232)]);
    expect(batch.verdict(0)).toBe("packet-too-big");
    expect(batch.verdict(1)).toBe("send"); // exactly 1280 fits
    const ptb = batch.output(0);
    expect(ptb.length).toBe(1280);
    expect(ptb[6]).toBe(58);
    expect(ptb[40]).toBe(2); // Packet Too Big
    expect(new DataView(ptb.buffer, ptb.byteOffset).getUint32(44)).toBe(1280);
    expect([...ptb.subarray(24, 40)]).toEqual([...big.subarray(8, 24)]); // back to the sender
    expect([...ptb.subarray(8, 24)]).toEqual([...parseIPv6("2001:db8:ffff::1")!]); // from the tunnel interface
    expect([...ptb.subarray(48, 48 + 40)]).toEqual([...big.subarray(0, 40)]); // quotes the invoking packet
    // The ICMPv6 checksum verifies (RFC 4443 §2.3).
    let sum = 0;
    const add = (b: Uint8Array) => {
      for (let i = 0; i < b.length; i += 2) sum += (b[i] << 8) | (b[i + 1] ?? 0);
    };
    add(ptb.subarray(8, 40));
    sum += ptb.length - 40 + 58;
    add(ptb.subarray(40));
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    expect(sum).toBe(0xffff);
    // No Packet Too Big about an ICMPv6 error or from an invalid source (RFC 4443 §2.4 e).
    const err = ipv6(s.aHost, s.bHost, 1400);
    err[40] = 1;
    const { batch: b2 } = send(A, [err, ipv6("::", s.bHost, 1400)]);
    expect([b2.reason(0), b2.reason(1)]).toEqual(["too-big", "too-big"]);
  });

  it("routes decide the tunnel; no route and no SA are named drops", async () => {
    const { A } = await setup(s);
    const { batch } = send(A, [ipv6(s.aHost, "2001:db8:99::1"), ipv6(s.aHost, s.bHost)]);
    expect([batch.reason(0), batch.verdict(1)]).toEqual(["no-route", "send"]);
    const t = A.dp.tunnelByIndex(0)!;
    A.dp.removeSa(t.outboundSa!);
    const { batch: b2 } = send(A, [ipv6(s.aHost, s.bHost)]);
    expect(b2.reason(0)).toBe("no-outbound-sa");
  });

  it("UDP-encapsulated ESP (RFC 3948) works through both pipelines", async () => {
    const { A, B } = await setup(s, true);
    const inner = [ipv6(s.aHost, s.bHost), ipv6(s.aHost, s.bHost)];
    const { out } = send(A, inner);
    expect(out[0][9]).toBe(17);
    expect(new DataView(out[0].buffer).getUint16(22)).toBe(4500);
    const r = receive(B, out);
    expect(r.verdicts).toEqual(["deliver", "deliver"]);
    expect(Buffer.compare(r.delivered[1], inner[1])).toBe(0);
  });

  it("outer fragments are reassembled and the datagram goes through the checks once", async () => {
    const { A, B } = await setup(s);
    const inner = ipv6(s.aHost, s.bHost, 1000);
    const { out } = send(A, [inner]);
    const frags = fragmentIPv4(out[0], 512);
    const r = receive(B, frags.reverse());
    expect(r.verdicts).toEqual(["fragment", "fragment", "fragment", "deliver"]);
    expect(Buffer.compare(r.delivered[0], inner)).toBe(0);
    expect(receive(B, frags).verdicts).toEqual(["fragment", "fragment", "fragment", "replayed"]);
  });

  it("malformed outer and inner headers are named drops", async () => {
    const { A, B } = await setup(s);
    const { out } = send(A, [ipv6(s.aHost, s.bHost)]);
    const badSum = out[0].slice();
    badSum[8] ^= 1; // TTL changed, checksum now wrong
    const short = out[0].subarray(0, 19);
    const notV6 = forged(A, TEP1, TEP2, new Uint8Array([0x45, 0, 0, 20, ...new Array<number>(16).fill(0)]));
    expect(receive(B, [badSum, short, notV6]).verdicts).toEqual(["bad-ipv4", "bad-ipv4", "bad-ipv6"]);
    const b = A.dp.createBatch({ packets: 1 });
    b.addPacket(new Uint8Array([0x60, 0, 0, 0, 0, 50]));
    A.dp.outbound(b);
    expect(b.reason(0)).toBe("bad-ipv6");
  });

  it("refuses bad tunnel configuration with ERR_CONFIG and changes nothing", async () => {
    const dp = await createDataplane({ tunnels: 2 });
    const ok = { name: "t1", local: TEP1, remote: TEP2, address: "2001:db8:1::1/64", routes: ["2001:db8:2::/48"], allow: ["2001:db8:2::/48"] };
    const bad: [object, RegExp][] = [
      [{ ...ok, local: "192.0.2.300" }, /local: '192.0.2.300' is not an IPv4 address/],
      [{ ...ok, remote: TEP1 }, /the endpoints are the same address/],
      [{ ...ok, address: "2001:db8:1::1" }, /address: .* prefix length/],
      [{ ...ok, routes: ["2001:db8:2::1/48"] }, /routes: '2001:db8:2::1\/48' is not an IPv6 prefix/],
      [{ ...ok, allow: ["192.0.2.0/24"] }, /allow: '192.0.2.0\/24' is not an IPv6 prefix/],
      [{ ...ok, mtu: 1279 }, /mtu: must be an integer from 1280/],
      [{ ...ok, name: "a name with spaces" }, /tunnel name/],
    ];
    for (const [cfg, msg] of bad) expect(() => dp.addTunnel(cfg as never)).toThrow(msg);
    dp.addTunnel(ok);
    expect(() => dp.addTunnel(ok)).toThrow(/exists already/);
    expect(() => dp.addTunnel({ ...ok, name: "t2" })).toThrow(/route 2001:db8:2::\/48 is already routed into 't1'/);
    expect(() => dp.addTunnel({ ...ok, name: "t2", routes: [] })).toThrow(/same endpoints/);
  });
});
