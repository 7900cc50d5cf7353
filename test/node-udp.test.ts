// Two endpoints over real UDP sockets on loopback: IKEv2 on non-standard ports (non-ESP
// marker from the start), UDP-encapsulated ESP, the inbound pipeline's checks on what the
// sockets receive, ICMPv6 echo through the tunnel, and a CHILD_SA rekey under traffic.
import { createSocket } from "node:dgram";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/index.js";
import { createDataplane } from "../src/pipeline.js";
import { UdpNode } from "../src/node/udp.js";
import { policyFromConfig } from "../src/policy.js";
import { echoReply, echoRequest } from "../src/icmpv6-echo.js";
import { parseIPv6 } from "../src/addr.js";

const nodes: UdpNode[] = [];
afterAll(async () => {
  for (const n of nodes) await n.close();
});

function config(me: string, peer: string, myPorts: [number, number], peerPorts: [number, number], inner: [string, string]) {
  return loadConfig(`
connections {
  r { local_addrs = ${me}
      remote_addrs = ${peer}
      local_port = ${myPorts[1]}
      remote_port = ${peerPorts[1]}
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
secrets { ike-r { secret = "loopback demo secret" } }
tunnels { t { local = ${me}
  remote = ${peer}
  address = ${inner[0]}/64
  routes = ${inner[1]}/64 } }
`, { file: `${me}.conf` });
}

async function node(me: string, peer: string, myPorts: [number, number], peerPorts: [number, number], inner: [string, string], got: Uint8Array[]) {
  const cfg = config(me, peer, myPorts, peerPorts, inner);
  const dp = await createDataplane({ sas: 8, tunnels: 2 });
  for (const t of policyFromConfig(cfg).tunnels) dp.addTunnel(t.config, t.policy);
  const ours = parseIPv6(inner[0])!;
  let n: UdpNode | undefined = undefined;
  n = await UdpNode.bind({
    config: cfg,
    dataplane: dp,
    address: me,
    ikePort: myPorts[0],
    nattPort: myPorts[1],
    ike: { retransmit: { timeout: 200, tries: 3 } },
    keepaliveMs: 100,
    deliver: (p) => {
      got.push(p);
      const r = echoReply(p, (d) => d.every((b, i) => b === ours[i]));
      if (r) n!.send([r]);
    },
  });
  nodes.push(n);
  return n;
}

describe("UDP transport on loopback", () => {
  it("IKEv2 + UDP-encapsulated transport-mode ESP carry pings both ways; checks run on socket input; rekey under traffic", async () => {
    const gotA: Uint8Array[] = [];
    const gotB: Uint8Array[] = [];
    const A = await node("127.0.0.1", "127.0.0.2", [0, 24501], [0, 24502], ["fd00:a::1", "fd00:b::"], gotA);
    const B = await node("127.0.0.2", "127.0.0.1", [0, 24502], [0, 24501], ["fd00:b::1", "fd00:a::"], gotB);
    void B;
    const info = await A.ike.initiate("r");
    expect(info.state).toBe("established");
    expect(info.natt).toBe(true);
    const a6 = parseIPv6("fd00:a::1")!;
    const b6 = parseIPv6("fd00:b::1")!;
    const send = (k: number) => A.send(Array.from({ length: k }, (_, i) => echoRequest(a6, b6, 7, i)));
    expect(send(10)).toEqual(Array(10).fill("send"));
    await new Promise((r) => setTimeout(r, 200));
    expect(gotB.length).toBe(10); // requests delivered at B
    expect(gotA.length).toBe(10); // B's echo replies delivered at A
    expect(gotA.every((p) => p[40] === 129)).toBe(true);
    // Rekey in the middle of traffic: nothing that was sent is lost.
    send(20);
    const fresh = await A.ike.rekeyChild(info.id, info.children[0].spiIn);
    send(20);
    await new Promise((r) => setTimeout(r, 300));
    expect(fresh.spiIn).not.toBe(info.children[0].spiIn);
    expect(gotB.length).toBe(50);
    // RFC 3948 §4 NAT-keepalives flow both ways (every 100 ms here) and are consumed.
    expect(A.stats.keepalivesSent).toBeGreaterThan(0);
    expect(B.stats.keepalives).toBeGreaterThan(0);
    expect(gotA.length).toBe(50);
    // A spoofed outer source: a genuine datagram (captured by sending A's next packet to a
    // socket of ours instead of B) replayed to B from another address.
    const sniff = createSocket("udp4");
    await new Promise<void>((r) => sniff.bind(0, "127.0.0.3", r));
    const captured = new Promise<Buffer>((r) => sniff.once("message", (m) => r(m)));
    const dp = A.dp;
    const b = dp.createBatch({ packets: 1 });
    b.addPacket(echoRequest(a6, b6, 9, 1));
    dp.outbound(b);
    sniff.send(b.output(0).slice(28), (sniff.address() as { port: number }).port, "127.0.0.3");
    const datagram = await captured;
    const dropsBefore = B.dp.drops();
    sniff.send(datagram, 24502, "127.0.0.2");
    // A UDP datagram larger than any tunnel's packets (slots hold MTU 1280 + ESP): dropped and
    // counted as no-room. Before, adding it to the batch threw out of the socket's handler.
    const huge = Buffer.alloc(3000, 0x11);
    sniff.send(huge, 24502, "127.0.0.2");
    await new Promise((r) => setTimeout(r, 100));
    sniff.close();
    const dropsAfter = B.dp.drops();
    expect((dropsAfter["spoofed-outer-source"] ?? 0n) - (dropsBefore["spoofed-outer-source"] ?? 0n)).toBe(1n);
    expect((dropsAfter["no-room"] ?? 0n) - (dropsBefore["no-room"] ?? 0n)).toBe(1n);
    expect(gotB.length).toBe(50);
    // send(): an oversized packet gets the verdict no-room, the others go; a non-array sends nothing.
    const espOut = A.stats.espOut;
    expect(A.send([echoRequest(a6, b6, 10, 1), new Uint8Array(4000), echoRequest(a6, b6, 10, 2)])).toEqual(["send", "no-room", "send"]);
    expect(A.stats.espOut).toBe(espOut + 2);
    expect(() => A.send([echoRequest(a6, b6, 10, 3), "x" as unknown as Uint8Array])).toThrow(expect.objectContaining({ code: "ERR_INPUT_TYPE" }));
    expect(A.stats.espOut).toBe(espOut + 2);
  });
});
