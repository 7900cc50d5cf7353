/**
 * `ipsec6in4 demo` (npm start): RFC 4891 Figure 1 — two routers joined by an IPv6-in-IPv4
 * tunnel protected with ESP in transport mode and keyed by IKEv2 — on this machine's loopback,
 * with no root and no network: IKEv2 and ESP run over UDP (RFC 3948) between 127.0.0.1 and
 * 127.0.0.2.
 *
 *  1. IKEv2 negotiates the IKE_SA and the CHILD_SA (transport mode, protocol 41 selectors)
 *  2. IPv6 traffic both ways: ICMPv6 echo requests from A's site, replies from B's router
 *  3. attacks at B: a captured datagram replayed from another IPv4 address (threat 1), a
 *     packet whose inner source is ::1 (threat 2), one from outside A's prefixes (ingress)
 *  4. a CHILD_SA rekey in the middle of traffic, nothing lost
 *  5. a summary: what was negotiated, packets, drops by reason, throughput
 */
import { createSocket, type Socket } from "node:dgram";
import { loadConfig } from "./config/index.js";
import { createDataplane } from "./pipeline.js";
import { policyFromConfig } from "./policy.js";
import { UdpNode } from "./node/udp.js";
import { echoReply, echoRequest } from "./icmpv6-echo.js";
import { parseIPv6 } from "./addr.js";
import * as C from "./ike/constants.js";
import { fail } from "./errors.js";

type Write = (s: string) => void;

async function freePort(address: string): Promise<number> {
  const s: Socket = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, address, r));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function swanctl(me: string, peer: string, ports: { mine: number; peer: number }, inner: { addr: string; routes: string; allow: string }): string {
  return `
connections {
  routers {
    local_addrs = ${me}
    remote_addrs = ${peer}
    local_port = ${ports.mine}
    remote_port = ${ports.peer}
    encap = yes
    proposals = aes128gcm16-prfsha256-curve25519
    local { auth = psk
            id = ${me} }
    remote { auth = psk
             id = ${peer} }
    children {
      v6in4 {
        mode = transport
        local_ts = dynamic[41]
        remote_ts = dynamic[41]
        esp_proposals = aes128gcm16
      }
    }
  }
}
secrets { ike-routers { id-1 = 127.0.0.1
                        id-2 = 127.0.0.2
                        secret = "RFC 4891 loopback demonstration" } }
tunnels {
  t1 { local = ${me}
       remote = ${peer}
       address = ${inner.addr}
       routes = ${inner.routes}
       allow = ${inner.allow} }
}
`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const n = (x: number | bigint) => x.toLocaleString("en-US");

export async function tunnelDemo(args: string[], out: Write): Promise<number> {
  let packets = 1000;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--packets") {
      const v = Number(args[++i]);
      if (!Number.isInteger(v) || v < 10 || v > 1_000_000) fail("ERR_USAGE", "--packets takes an integer from 10 to 1000000");
      packets = v;
    } else fail("ERR_USAGE", `demo: unknown option '${args[i]}'`);
  }
  const A = "127.0.0.1";
  const B = "127.0.0.2";
  const ports = { a: [await freePort(A), await freePort(A)], b: [await freePort(B), await freePort(B)] };
  const site = { a: "2001:db8:1::10", b: "2001:db8:2::1" };
  const cfgA = loadConfig(swanctl(A, B, { mine: ports.a[1], peer: ports.b[1] }, { addr: "2001:db8:ffff::1/64", routes: "2001:db8:2::/48", allow: "2001:db8:2::/48" }), { file: "router-a.conf" });
  const cfgB = loadConfig(swanctl(B, A, { mine: ports.b[1], peer: ports.a[1] }, { addr: "2001:db8:ffff::2/64", routes: "2001:db8:1::/48", allow: "2001:db8:1::/48" }), { file: "router-b.conf" });

  out(`ipsec6in4 demo: RFC 4891 Figure 1, router to router, on loopback (no root, no network)\n`);
  out(`  router A ${A}  IKE/NAT-T port ${ports.a[1]}  site 2001:db8:1::/48  tunnel 2001:db8:ffff::1/64\n`);
  out(`  router B ${B}  IKE/NAT-T port ${ports.b[1]}  site 2001:db8:2::/48  tunnel 2001:db8:ffff::2/64\n\n`);

  const got = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  const make = async (cfg: typeof cfgA, addr: string, p: number[], mine: Uint8Array[], answer: Uint8Array) => {
    const dp = await createDataplane({ sas: 8, tunnels: 2 });
    for (const t of policyFromConfig(cfg).tunnels) dp.addTunnel(t.config, t.policy);
    let node: UdpNode | undefined;
    node = await UdpNode.bind({
      config: cfg,
      dataplane: dp,
      address: addr,
      ikePort: p[0],
      nattPort: p[1],
      ike: { retransmit: { timeout: 500, tries: 4 } },
      deliver: (pkt) => {
        mine.push(pkt);
        const r = echoReply(pkt, (d) => d.every((b, i) => b === answer[i]));
        if (r) node!.send([r]);
      },
    });
    return node;
  };
  const a = await make(cfgA, A, ports.a, got.a, parseIPv6(site.a)!);
  const b = await make(cfgB, B, ports.b, got.b, parseIPv6(site.b)!);
  let ok = true;
  try {
    // 1. IKEv2.
    const t0 = performance.now();
    const sa = await a.ike.initiate("routers");
    const ms = performance.now() - t0;
    const child = sa.children[0];
    out(`1. IKEv2: IKE_SA_INIT + IKE_AUTH (PSK, IPv4 identities) in ${ms.toFixed(1)} ms\n`);
    out(`   IKE_SA   ${C.ENCR_NAMES[sa.encr]}, ${C.PRF_NAMES[sa.prf]}, ${C.DH_NAMES[sa.group]}, NAT-T ${sa.natt ? "on (encap = yes)" : "off"}\n`);
    out(`   CHILD_SA ${child.name}: ${child.mode} mode, ${C.ENCR_NAMES[child.encr]}/${child.keyLen}, SPIs 0x${child.spiIn.toString(16).padStart(8, "0")}_i 0x${child.spiOut.toString(16).padStart(8, "0")}_o\n`);
    out(`            selectors ${child.localTs} === ${child.remoteTs} (RFC 4891 §5.1)\n\n`);

    // 2. Traffic both ways.
    const src = parseIPv6(site.a)!;
    const dst = parseIPv6(site.b)!;
    const sizes = [56, 56, 56, 56, 56, 56, 56, 528, 528, 528, 528, 1224];
    const burst = (count: number, seq0: number) =>
      Array.from({ length: count }, (_, i) => echoRequest(src, dst, 0x4891, (seq0 + i) & 0xffff, new Uint8Array(sizes[i % sizes.length])));
    const t1 = performance.now();
    let sent = 0;
    for (let i = 0; i < packets; i += 64) {
      // A window of 128 echo requests in flight, as a ping flood would keep: loopback UDP
      // drops what the receiving socket's buffer cannot hold.
      while (sent - got.a.length > 128) await new Promise((r) => setImmediate(r));
      sent += a.send(burst(Math.min(64, packets - i), i)).filter((v) => v === "send").length;
      await new Promise((r) => setImmediate(r));
    }
    while (got.a.length < sent && performance.now() - t1 < 10_000) await sleep(5);
    const dt = (performance.now() - t1) / 1000;
    const bytes = got.b.reduce((s, p) => s + p.length, 0) + got.a.reduce((s, p) => s + p.length, 0);
    out(`2. Traffic: ${n(sent)} ICMPv6 echo requests A→B (IMIX sizes), ${n(got.b.length)} delivered at B, ${n(got.a.length)} echo replies back at A\n`);
    out(`   ${n(Math.round((got.a.length + got.b.length) / dt))} packets/s, ${((bytes * 8) / dt / 1e6).toFixed(0)} Mbit/s of inner IPv6 through both pipelines, ESP and the sockets\n\n`);
    ok &&= got.b.length === sent && got.a.length === sent;

    // 3. Attacks at B.
    const dropsBefore = b.dp.drops();
    const sniff: Socket = createSocket("udp4");
    await new Promise<void>((r) => sniff.bind(0, "127.0.0.3", r));
    const captured = new Promise<Buffer>((r) => sniff.once("message", (m) => r(m)));
    const one = a.dp.createBatch({ packets: 3 });
    one.addPacket(echoRequest(src, dst, 1, 1));
    one.addPacket(echoRequest(parseIPv6("::1")!, dst, 1, 2));
    one.addPacket(echoRequest(parseIPv6("2001:db8:66::6")!, dst, 1, 3));
    a.dp.outbound(one);
    // A's first packet goes to our sniffer instead of B: a capture an attacker could make.
    sniff.send(one.output(0).slice(28), (sniff.address() as { port: number }).port, "127.0.0.3");
    const datagram = await captured;
    sniff.send(datagram, ports.b[1], B); // replayed from 127.0.0.3: threat 1
    // Threat 2 and ingress filtering: genuine ESP from A's address, but inner sources B must refuse.
    const fromA: Socket = createSocket("udp4");
    await new Promise<void>((r) => fromA.bind(0, A, r));
    fromA.send(one.output(1).slice(28), ports.b[1], B);
    fromA.send(one.output(2).slice(28), ports.b[1], B);
    await sleep(100);
    sniff.close();
    fromA.close();
    one.destroy();
    const dropsAfter = b.dp.drops();
    const delta = (r: string) => Number((dropsAfter[r as keyof typeof dropsAfter] ?? 0n) - (dropsBefore[r as keyof typeof dropsBefore] ?? 0n));
    out(`3. Attacks at B (RFC 4213 §3.6, RFC 4891 §2):\n`);
    out(`   captured datagram replayed from 127.0.0.3      → dropped: spoofed-outer-source (${delta("spoofed-outer-source")})\n`);
    out(`   inner source ::1 inside genuine ESP from A      → dropped: inner-loopback (${delta("inner-loopback")})\n`);
    out(`   inner source 2001:db8:66::6, outside A's /48    → dropped: ingress-prefix (${delta("ingress-prefix")})\n\n`);
    ok &&= delta("spoofed-outer-source") === 1 && delta("inner-loopback") === 1 && delta("ingress-prefix") === 1;

    // 4. Rekey under traffic.
    const before = { a: got.a.length, b: got.b.length };
    let sent2 = 0;
    let rekeyed: { spiIn: number; spiOut: number } | undefined;
    const rekey = a.ike.rekeyChild(sa.id, child.spiIn).then((c) => (rekeyed = c));
    for (let round = 0; round < 20; round++) {
      sent2 += a.send(burst(16, 2000 + round * 16)).filter((v) => v === "send").length;
      await sleep(2);
    }
    await rekey;
    for (let round = 0; round < 5; round++) {
      sent2 += a.send(burst(16, 3000 + round * 16)).filter((v) => v === "send").length;
      await sleep(2);
    }
    const t2 = performance.now();
    while (got.a.length - before.a < sent2 && performance.now() - t2 < 5000) await sleep(5);
    const lost = sent2 - (got.b.length - before.b);
    out(`4. Rekey in the middle of traffic (CREATE_CHILD_SA, make-before-break):\n`);
    out(`   new SPIs 0x${rekeyed!.spiIn.toString(16).padStart(8, "0")}_i 0x${rekeyed!.spiOut.toString(16).padStart(8, "0")}_o; ${n(sent2)} sent around it, ${n(got.b.length - before.b)} delivered, ${lost} lost\n\n`);
    ok &&= lost === 0;

    // 5. Summary.
    const drops = Object.entries(b.dp.drops()).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
    out(`5. Summary\n`);
    out(`   IKE: ${a.stats.ikeIn + b.stats.ikeIn} IKE messages received; ESP datagrams out A ${n(a.stats.espOut)}, out B ${n(b.stats.espOut)}\n`);
    out(`   drops at B by reason: ${drops}\n`);
  } finally {
    await a.close();
    await b.close();
  }
  out(ok ? "\ndemo OK\n" : "\ndemo FAILED\n");
  return ok ? 0 : 1;
}
