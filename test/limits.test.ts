// Limits under load.
//
//   1. An IKE_SA_INIT flood over UDP on loopback — many source addresses and ports in
//      127.0.0.0/8, a fresh SPIi per message, valid proposals and KE, replies ignored as a
//      spoofer's would be — against a UdpNode with a low cookieThreshold, while an honest peer
//      initiates: half-open IKE_SAs stay at the threshold (RFC 7296 §2.6: beyond it every
//      IKE_SA_INIT costs the responder a hash, not a Diffie-Hellman and state), and the honest
//      peer, which returns the cookie, connects.
//   2. The Reassembler under a flood of fragments that never complete: bytes held never exceed
//      maxBytes, datagrams never exceed maxDatagrams, and an honest fragmented datagram that
//      finds room completes; once the flood's datagrams time out, every honest one completes.
//   3. The same through the Dataplane's inbound pipeline: outer fragments of forged ESP from
//      the tunnel's own endpoint, interleaved with honest ESP packets in two fragments.
//
// Loopback only; seeded (IPSEC6IN4_SEED). LIMITS_FLOOD scales the IKE flood (default 3,000).
import { createSocket, type Socket } from "node:dgram";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/index.js";
import { createDataplane } from "../src/pipeline.js";
import { IkeEndpoint } from "../src/ike/endpoint.js";
import { UdpNode } from "../src/node/udp.js";
import { policyFromConfig } from "../src/policy.js";
import { Reassembler, ipv4HeaderChecksum } from "../src/reassembly.js";
import { parseIp } from "../src/addr.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";

const SEED = seedFromEnv(0x1e4e);
const FLOOD = Number(process.env.LIMITS_FLOOD ?? 3_000);
const report: Record<string, unknown> = { seed: SEED };
afterAll(() => console.log(`limits (seed ${SEED}):\n${JSON.stringify(report, null, 2)}`));

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const heapMiB = () => {
  gc();
  const m = process.memoryUsage();
  return { rss: +(m.rss / 2 ** 20).toFixed(1), heap: +(m.heapUsed / 2 ** 20).toFixed(1) };
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function conf(me: string, peer: string, remoteAddrs: string, myPort: number, peerPort: number) {
  return loadConfig(`
connections {
  c { local_addrs = ${me}
      remote_addrs = ${remoteAddrs}
      local_port = ${myPort}
      remote_port = ${peerPort}
      encap = yes
      proposals = aes128gcm16-prfsha256-curve25519
      local { auth = psk
        id = ${me} }
      remote { auth = psk
        id = ${peer} }
      children { v6 { mode = transport
        local_ts = dynamic[41]
        remote_ts = dynamic[41]
        esp_proposals = aes128gcm16 } } }
}
secrets { ike-c { secret = "loopback flood secret" } }
tunnels { t { local = ${me}
  remote = ${peer}
  address = ${me === "127.0.0.1" ? "fd00:a::1" : "fd00:b::1"}/64
  routes = ${me === "127.0.0.1" ? "fd00:b::" : "fd00:a::"}/64 } }
`, { file: `${me}.conf` });
}

const bindUdp = (address: string, port = 0) =>
  new Promise<Socket>((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind(port, address, () => resolve(s));
  });

async function freePort(address: string): Promise<number> {
  const s = await bindUdp(address);
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function ipv4(src: string, dst: string, proto: number, id: number, offset: number, more: boolean, body: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + body.length);
  const fo = (more ? 0x2000 : 0) | (offset >> 3);
  p.set([0x45, 0, p.length >> 8, p.length & 0xff, id >> 8, id & 0xff, fo >> 8, fo & 0xff, 64, proto, 0, 0, ...parseIp(src)!.bytes, ...parseIp(dst)!.bytes]);
  p.set(body, 20);
  const c = ipv4HeaderChecksum(p.subarray(0, 20));
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}

/** An outer IPv4 packet cut in two fragments (the first carrying a multiple of 8 bytes). */
function halves(pkt: Uint8Array, id: number): Uint8Array[] {
  const body = pkt.subarray(20);
  const cut = Math.max(8, (body.length >> 1) & ~7);
  const src = `${pkt[12]}.${pkt[13]}.${pkt[14]}.${pkt[15]}`;
  const dst = `${pkt[16]}.${pkt[17]}.${pkt[18]}.${pkt[19]}`;
  return [ipv4(src, dst, pkt[9], id, 0, true, body.subarray(0, cut)), ipv4(src, dst, pkt[9], id, cut, false, body.subarray(cut))];
}

describe("limits under load", { timeout: 120_000 }, () => {
  it(`IKE_SA_INIT flood (${FLOOD} requests from 64 source ports): half-open SAs held at the cookie threshold, the honest peer connects`, async () => {
    const rng = new Prng(SEED);
    const THRESHOLD = 8;
    const LA = "127.0.0.1";
    const LB = "127.0.0.2";
    const [pA, pB] = [await freePort(LA), await freePort(LB)];
    const dpA = await createDataplane({ sas: 8, tunnels: 2 });
    const dpB = await createDataplane({ sas: 8, tunnels: 2 });
    const cA = conf(LA, LB, LB, pA, pB);
    const cB = conf(LB, LA, "127.0.0.0/8", pB, pA); // any loopback source may start IKE_SA_INIT
    for (const [dp, c] of [[dpA, cA], [dpB, cB]] as const) for (const t of policyFromConfig(c).tunnels) dp.addTunnel(t.config, t.policy);
    const B = await UdpNode.bind({ config: cB, dataplane: dpB, address: LB, ikePort: 0, nattPort: pB, deliver: () => {}, ike: { cookieThreshold: THRESHOLD } });
    const A = await UdpNode.bind({ config: cA, dataplane: dpA, address: LA, ikePort: 0, nattPort: pA, deliver: () => {}, ike: { retransmit: { timeout: 250, base: 1.5, tries: 6 } } });
    // A template IKE_SA_INIT request (with the non-ESP marker), captured from an endpoint that never sends it.
    let template: Uint8Array | undefined;
    const capturer = new IkeEndpoint({ config: cA, send: (d) => void (template ??= d.slice()), retransmit: { timeout: 60_000, tries: 0 } });
    void capturer.initiate("c").catch(() => {});
    expect(template).toBeDefined();
    await capturer.close();
    // 64 flooders: 8 addresses × 8 ports in 127.0.0.0/8; they count the replies and answer none.
    const flooders: Socket[] = [];
    const replies = { cookie: 0, initResponse: 0, other: 0 };
    for (let a = 0; a < 8; a++) {
      for (let p = 0; p < 8; p++) {
        const s = await bindUdp(`127.0.${1 + a}.${10 + p}`);
        s.on("message", (m) => {
          // After the marker: header byte 16 is the first payload; N(COOKIE) comes first in a cookie request.
          const first = m[4 + 16];
          if (first === 41 && m.readUInt16BE(4 + 28 + 6) === 16390) replies.cookie++;
          else if (first === 33) replies.initResponse++;
          else replies.other++;
        });
        flooders.push(s);
      }
    }
    const before = heapMiB();
    const halfOpen = () => B.ike.list().filter((s) => !s.initiator && s.state !== "established").length;
    let maxHalfOpen = 0;
    const sampler = setInterval(() => (maxHalfOpen = Math.max(maxHalfOpen, halfOpen())), 5);
    const t0 = performance.now();
    let honest: Promise<unknown> | undefined;
    let honestMs = 0;
    for (let k = 0; k < FLOOD; k++) {
      const m = Buffer.from(template!);
      m.set(rng.bytes(8), 4); // a fresh SPIi
      flooders[k % flooders.length].send(m, pB, LB);
      if (k === Math.floor(FLOOD / 4)) {
        const th = performance.now();
        honest = A.ike.initiate("c").then((i) => ((honestMs = performance.now() - th), i));
      }
      if (k % 64 === 63) await sleep(1); // ~64 requests per ms at most: the loopback socket buffer keeps up
    }
    const info = (await honest) as { state: string };
    await sleep(200);
    clearInterval(sampler);
    const floodMs = performance.now() - t0;
    maxHalfOpen = Math.max(maxHalfOpen, halfOpen());
    const after = heapMiB();
    report.ikeInitFlood = {
      requests: FLOOD,
      sources: "64 (127.0.1-8.10-17, 8 addresses × 8 ports)",
      cookieThreshold: THRESHOLD,
      seconds: +(floodMs / 1000).toFixed(2),
      receivedByResponder: B.stats.ikeIn,
      replies,
      maxHalfOpen,
      halfOpenAtEnd: halfOpen(),
      honestPeer: { state: info.state, ms: Math.round(honestMs) },
      memoryMiB: { before, after },
    };
    expect(info.state).toBe("established");
    // The flood's half-open SAs stop at the threshold; the honest peer's own (it returned the cookie) may come on top.
    expect(maxHalfOpen).toBeLessThanOrEqual(THRESHOLD + 1);
    // Only the first THRESHOLD requests cost a Diffie-Hellman and state; the rest got a COOKIE.
    expect(replies.initResponse).toBeLessThanOrEqual(THRESHOLD);
    // The kernel drops what the responder cannot read in time (a flood is a flood); of what it read, all but those got a COOKIE.
    expect(replies.cookie).toBeGreaterThan(B.stats.ikeIn * 0.9 - THRESHOLD);
    expect(after.heap - before.heap).toBeLessThan(16);
    for (const s of flooders) s.close();
    await A.close();
    await B.close();
  });

  it("Reassembler under a fragment flood: byte and datagram caps hold; honest datagrams complete where there is room", () => {
    const rng = new Prng(SEED ^ 0xf4a9);
    const r = new Reassembler({ maxBytes: 256 * 1024, maxDatagrams: 256, timeoutMs: 1000 });
    const honest = { sent: 0, completed: 0, hadRoom: 0, completedWithRoom: 0 };
    let maxHeld = 0;
    let maxPending = 0;
    let fragments = 0;
    const t0 = performance.now();
    // 3,000 simulated ms; 100 flood fragments (for the first 1,500 ms) and one honest 1,400-byte datagram (2 fragments) per ms.
    for (let now = 0; now < 3000; now++) {
      for (let k = 0; k < 100; k++) {
        // Flood: first fragments only (MF set, offset 0..), from spoofed sources, never completed.
        const len = 8 * rng.int(1, 175);
        const off = 8 * rng.int(0, 1000);
        const src = `10.${rng.int(0, 255)}.${rng.int(0, 255)}.${rng.int(1, 254)}`;
        // After 1,500 ms the flood stops: what it left times out and honest traffic must flow again.
        if (now < 1500) r.push(ipv4(src, "192.0.2.2", 50, rng.int(0, 0xffff), off, true, new Uint8Array(len)), now);
        fragments++;
        maxHeld = Math.max(maxHeld, r.bytesHeld);
        maxPending = Math.max(maxPending, r.pending);
      }
      const body = rng.bytes(1400);
      const id = now & 0xffff;
      const room = r.maxBytes - r.bytesHeld >= body.length && r.pending < r.maxDatagrams;
      honest.sent++;
      if (room) honest.hadRoom++;
      const [f1, f2] = halves(ipv4("192.0.2.1", "192.0.2.2", 50, id, 0, false, body), id);
      r.push(f1, now);
      const res = r.push(f2, now);
      if (res.status === "complete") {
        honest.completed++;
        if (room) honest.completedWithRoom++;
        expect(res.packet.subarray(20)).toEqual(body);
      }
      if (now >= 1500 + r.timeoutMs) expect(res.status).toBe("complete");
    }
    const s = (performance.now() - t0) / 1000;
    report.reassemblerFlood = {
      maxBytes: r.maxBytes,
      maxDatagrams: r.maxDatagrams,
      floodFragments: 1500 * 100,
      maxBytesHeld: maxHeld,
      maxPending,
      drops: r.drops,
      honest,
      fragmentsPerSecond: Math.round((fragments + 2 * honest.sent) / s),
    };
    expect(maxHeld).toBeLessThanOrEqual(r.maxBytes);
    expect(maxPending).toBeLessThanOrEqual(r.maxDatagrams);
    expect(honest.completedWithRoom).toBe(honest.hadRoom);
    expect(r.drops.memory).toBeGreaterThan(0);
  });

  it("Reassembler: 8-byte fragments (the cap counts payload bytes): JS heap stays bounded too", () => {
    const rng = new Prng(SEED ^ 0x8);
    const before = heapMiB();
    const r = new Reassembler({ maxBytes: 1 << 20, maxDatagrams: 256, maxFragments: 128, timeoutMs: 30_000 });
    let maxHeld = 0;
    const t0 = performance.now();
    const N = Number(process.env.LIMITS_TINY ?? 40_000); // 256 datagrams × 128 fragments fill up at ~33,000
    for (let k = 0; k < N; k++) {
      // Every other 8-byte slot of a datagram: no overlaps, never complete, most fragments per byte.
      const id = rng.int(0, 255);
      const off = 16 * rng.int(0, 4000);
      r.push(ipv4("192.0.2.1", "192.0.2.2", 50, id, off, true, new Uint8Array(8)), 0);
      if ((k & 1023) === 0) maxHeld = Math.max(maxHeld, r.bytesHeld);
    }
    const s = (performance.now() - t0) / 1000;
    const held = heapMiB();
    report.tinyFragmentFlood = {
      fragments: N,
      maxBytes: r.maxBytes,
      bytesHeld: r.bytesHeld,
      pending: r.pending,
      drops: r.drops,
      heapMiB: { before: before.heap, whileHeld: held.heap },
      fragmentsPerSecond: Math.round(N / s),
    };
    expect(maxHeld).toBeLessThanOrEqual(r.maxBytes);
    expect(r.pending).toBeLessThanOrEqual(256);
    // 256 datagrams × 128 fragments of 8 bytes at most: 256 KiB of payload in ≤ 32,768 fragment records.
    expect(held.heap - before.heap).toBeLessThan(32);
    void r;
  });

  it("the Dataplane's inbound pipeline under a fragment flood from the tunnel's endpoint: cap holds, honest ESP in fragments is delivered", async () => {
    const rng = new Prng(SEED ^ 0xd9);
    const A = await createDataplane({ sas: 4, tunnels: 2 });
    const B = await createDataplane({ sas: 4, tunnels: 2, reassembly: { maxBytes: 128 * 1024, maxDatagrams: 64, timeoutMs: 1000 } });
    A.addTunnel({ name: "t", local: "192.0.2.1", remote: "192.0.2.2", address: "2001:db8:ffff::1/64", routes: ["2001:db8:2::/48"], allow: ["2001:db8:2::/48"], mtu: 1480 });
    B.addTunnel({ name: "t", local: "192.0.2.2", remote: "192.0.2.1", address: "2001:db8:ffff::2/64", routes: ["2001:db8:1::/48"], allow: ["2001:db8:1::/48"], mtu: 1480 });
    const keymat = rng.bytes(20);
    A.bindSa(A.esp.addOutbound({ spi: 0x77, keymat }), "t");
    B.bindSa(B.esp.addInbound({ spi: 0x77, keymat, replayWindow: 1024 }), "t");
    const inner = (n: number) => {
      const p = rng.bytes(1200);
      p.set([0x60, 0, 0, 0, 1160 >> 8, 1160 & 0xff, 59, 64]);
      p.set([0x20, 1, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10], 8);
      p.set([0x20, 1, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20], 24);
      new DataView(p.buffer).setUint32(40, n);
      return p;
    };
    const tx = A.createBatch({ packets: 1 });
    const rx = B.createBatch({ packets: 64 });
    const stats = { honestSent: 0, honestDelivered: 0, hadRoom: 0, deliveredWithRoom: 0, floodFragments: 0, maxHeld: 0, maxPending: 0 };
    for (let now = 0; now < 3000; now += 10) {
      rx.clear();
      // 40 flood fragments per 10 ms while now < 2000: forged ESP, first fragments only, the tunnel's real endpoints.
      if (now < 2000) {
        for (let k = 0; k < 40; k++) {
          rx.addPacket(ipv4("192.0.2.1", "192.0.2.2", 50, rng.int(0, 0x7fff), 0, true, rng.bytes(8 * rng.int(1, 150))));
          stats.floodFragments++;
        }
        B.inbound(rx, now);
        stats.maxHeld = Math.max(stats.maxHeld, B.reassembler.bytesHeld);
        rx.clear();
      }
      const room = B.reassembler.maxBytes - B.reassembler.bytesHeld >= 1300 && B.reassembler.pending < B.reassembler.maxDatagrams;
      tx.clear();
      tx.addPacket(inner(stats.honestSent));
      A.outbound(tx);
      expect(tx.verdict(0)).toBe("send");
      for (const f of halves(tx.output(0).slice(), 0x8000 | stats.honestSent)) rx.addPacket(f);
      stats.honestSent++;
      const before = stats.honestDelivered;
      B.inbound(rx, now);
      for (let i = 0; i < rx.length; i++) if (rx.verdict(i) === "deliver") stats.honestDelivered++;
      if (room) stats.hadRoom++;
      if (room && stats.honestDelivered > before) stats.deliveredWithRoom++;
      stats.maxHeld = Math.max(stats.maxHeld, B.reassembler.bytesHeld);
      stats.maxPending = Math.max(stats.maxPending, B.reassembler.pending);
      if (now >= 2000 + B.reassembler.timeoutMs) expect(stats.honestDelivered).toBe(before + 1);
    }
    report.dataplaneFragmentFlood = { ...stats, maxBytes: B.reassembler.maxBytes, maxDatagrams: B.reassembler.maxDatagrams, reassemblyDrops: B.reassembler.drops, pipelineDrops: Object.fromEntries(Object.entries(B.drops()).map(([k, v]) => [k, Number(v)])) };
    expect(stats.maxHeld).toBeLessThanOrEqual(B.reassembler.maxBytes);
    expect(stats.maxPending).toBeLessThanOrEqual(B.reassembler.maxDatagrams);
    expect(stats.deliveredWithRoom).toBe(stats.hadRoom);
  });
});
