// Two IKEv2 endpoints in one process, wired back to back: IKE_SA_INIT + IKE_AUTH with PSK,
// the CHILD_SA installed in both dataplanes and carrying IPv6 both ways, INVALID_KE_PAYLOAD,
// COOKIE, wrong PSK / identity / proposals / selectors ending with the RFC's notify,
// retransmission, CHILD_SA rekey and delete.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config/index.js";
import { createDataplane, type Dataplane } from "../src/pipeline.js";
import { IkeEndpoint, type UdpAddress } from "../src/ike/endpoint.js";

const A = "198.51.100.1";
const B = "198.51.100.2";

function conf(me: string, peer: string, opts: { proposals?: string; esp?: string; psk?: string; mode?: string; localTs?: string; remoteTs?: string; remoteId?: string; encap?: boolean } = {}) {
  const mode = opts.mode ?? "tunnel";
  const lts = opts.localTs ?? (mode === "transport" ? "dynamic[41]" : me === A ? "2001:db8:1::/48" : "2001:db8:2::/48");
  const rts = opts.remoteTs ?? (mode === "transport" ? "dynamic[41]" : me === A ? "2001:db8:2::/48" : "2001:db8:1::/48");
  return loadConfig(`
connections {
  peer {
    local_addrs = ${me}
    remote_addrs = ${peer}
    proposals = ${opts.proposals ?? "aes128gcm16-prfsha256-ecp256"}
    encap = ${opts.encap ? "yes" : "no"}
    local { auth = psk
      id = ${me} }
    remote { auth = psk
      id = ${opts.remoteId ?? peer} }
    children {
      net {
        mode = ${mode}
        local_ts = ${lts}
        remote_ts = ${rts}
        esp_proposals = ${opts.esp ?? "aes128gcm16"}
      }
    }
  }
}
secrets { ike-1 { id-1 = ${me}
  id-2 = ${peer}
  secret = ${opts.psk ?? "0x0102030405060708090a0b0c0d0e0f10"} } }
tunnels { t1 { local = ${me}
  remote = ${peer}
  address = ${me === A ? "2001:db8:1::1/64" : "2001:db8:2::1/64"}
  routes = ${me === A ? "2001:db8:2::/48" : "2001:db8:1::/48"} } }
`, { file: `${me}.conf` });
}

interface Side {
  ike: IkeEndpoint;
  dp: Dataplane;
  logs: string[];
  sent: number;
}

/** Two endpoints connected back to back; `drop(n)` decides whether the n-th datagram is lost. */
async function pair(aOpts = {}, bOpts = {}, drop: (n: number, from: string) => boolean = () => false, extra: { cookieThreshold?: number } = {}) {
  let n = 0;
  const sides: Record<string, Side> = {};
  const mk = async (me: string, peer: string, o: object) => {
    const dp = await createDataplane({ sas: 8, tunnels: 2 });
    const config = conf(me, peer, o);
    const logs: string[] = [];
    const side: Side = { dp, logs, sent: 0, ike: undefined as never };
    side.ike = new IkeEndpoint({
      config,
      dataplane: dp,
      log: (_l, m) => logs.push(m),
      retransmit: { timeout: 20, base: 1.5, tries: 4 },
      cookieThreshold: extra.cookieThreshold,
      send: (data: Uint8Array, from: UdpAddress, to: UdpAddress) => {
        side.sent++;
        if (drop(n++, me)) return;
        const copy = data.slice();
        setImmediate(() => sides[to.address]?.ike.receive(copy, from, to));
      },
    });
    for (const t of Object.values(config.tunnels)) {
      dp.addTunnel({ name: t.name, local: t.local, remote: t.remote, address: `${t.address!.address}/${t.address!.length}`, routes: t.routes.map((r) => `${r.address}/${r.length}`), allow: t.allow.map((r) => `${r.address}/${r.length}`) });
    }
    sides[me] = side;
    return side;
  };
  const a = await mk(A, B, aOpts);
  const b = await mk(B, A, bOpts);
  return { a, b };
}

function ipv6(src: string, dst: string): Uint8Array {
  const p = new Uint8Array(48);
  const hexs = (s: string) => s.split(":");
  void hexs;
  p.set([0x60, 0, 0, 0, 0, 8, 58, 64]);
  const put = (at: number, a: string) => {
    const [head, tail] = a.split("::");
    const h = head.split(":").filter(Boolean).map((x) => parseInt(x, 16));
    const t = (tail ?? "").split(":").filter(Boolean).map((x) => parseInt(x, 16));
    const g = [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
    g.forEach((v, i) => {
      p[at + 2 * i] = v >> 8;
      p[at + 2 * i + 1] = v & 0xff;
    });
  };
  put(8, src);
  put(24, dst);
  p[40] = 128;
  return p;
}

function carry(from: Dataplane, to: Dataplane, pkt: Uint8Array): string {
  const o = from.createBatch({ packets: 1 });
  o.addPacket(pkt);
  from.outbound(o);
  if (o.verdict(0) !== "send") return `outbound ${o.verdict(0)} ${o.reason(0)}`;
  const i = to.createBatch({ packets: 1 });
  i.addPacket(o.output(0));
  to.inbound(i);
  return i.verdict(0) === "deliver" ? "deliver" : `inbound ${i.reason(i.length - 1)}`;
}

describe("IKEv2 between two ipsec6in4 endpoints", () => {
  it.each([
    ["ecp256, AES-GCM-16, tunnel mode", {}, {}],
    ["curve25519, AES-256-GCM, ESN", { proposals: "aes256gcm16-prfsha384-curve25519", esp: "aes256gcm16-esn" }, { proposals: "aes256gcm16-prfsha384-curve25519", esp: "aes256gcm16-esn" }],
    ["modp2048, AES-CBC+SHA256 IKE, transport mode", { proposals: "aes256-sha256-modp2048", mode: "transport" }, { proposals: "aes256-sha256-modp2048", mode: "transport" }],
    ["forced UDP encapsulation", { encap: true }, {}],
  ])("%s: IKE_SA and CHILD_SA up, keys agree, IPv6 flows both ways", async (_n, ao, bo) => {
    const { a, b } = await pair(ao, bo);
    const keys: Record<string, string> = {};
    const info = await a.ike.initiate("peer");
    expect(info.state).toBe("established");
    expect(info.children).toHaveLength(1);
    const bs = b.ike.list();
    expect(bs).toHaveLength(1);
    const ca = info.children[0];
    const cb = bs[0].children[0];
    expect([ca.spiIn, ca.spiOut]).toEqual([cb.spiOut, cb.spiIn]);
    expect(ca.mode).toBe((ao as { mode?: string }).mode ?? "tunnel");
    void keys;
    if ((ao as { encap?: boolean }).encap) expect(info.natt).toBe(true);
    const aHost = ca.mode === "transport" ? "2001:db8:1::10" : "2001:db8:1::10";
    expect(carry(a.dp, b.dp, ipv6(aHost, "2001:db8:2::20"))).toBe("deliver");
    expect(carry(b.dp, a.dp, ipv6("2001:db8:2::20", aHost))).toBe("deliver");
    await a.ike.close();
    await b.ike.close();
  });

  it("INVALID_KE_PAYLOAD: the initiator retries with the responder's group", async () => {
    const { a, b } = await pair({ proposals: "aes128gcm16-prfsha256-ecp256-curve25519" }, { proposals: "aes128gcm16-prfsha256-curve25519" });
    const info = await a.ike.initiate("peer");
    expect(info.group).toBe(31);
    expect(a.logs.join("\n")).toContain("peer wants DH group 31");
    void b;
  });

  it("COOKIE: over the half-open threshold the responder asks for one and the initiator resends with it", async () => {
    const { a, b } = await pair({}, {}, () => false, { cookieThreshold: 0 });
    const info = await a.ike.initiate("peer");
    expect(info.state).toBe("established");
    expect(b.sent).toBeGreaterThanOrEqual(3); // COOKIE, IKE_SA_INIT response, IKE_AUTH response
  });

  it("wrong PSK ends with AUTHENTICATION_FAILED and no SAs anywhere", async () => {
    const { a, b } = await pair({ psk: "0xffffffffffffffffffffffffffffffff" }, {});
    await expect(a.ike.initiate("peer")).rejects.toThrow(/AUTHENTICATION_FAILED|AUTH/);
    expect(a.ike.list()).toEqual([]);
    expect(b.ike.list()).toEqual([]);
    expect(b.logs.join("\n")).toMatch(/AUTH payload does not verify/);
    expect(a.dp.esp.size + b.dp.esp.size).toBe(0);
  });

  it("wrong identity ends with AUTHENTICATION_FAILED", async () => {
    const { a } = await pair({}, { remoteId: "203.0.113.9" });
    await expect(a.ike.initiate("peer")).rejects.toThrow(/AUTHENTICATION_FAILED|AUTH/);
  });

  it("unacceptable proposals end with NO_PROPOSAL_CHOSEN", async () => {
    const { a } = await pair({ proposals: "aes256gcm16-prfsha512-ecp384" }, { proposals: "aes128gcm16-prfsha256-ecp256" });
    await expect(a.ike.initiate("peer")).rejects.toThrow(/NO_PROPOSAL_CHOSEN/);
  });

  it("unacceptable selectors end with TS_UNACCEPTABLE (IKE_SA up, no CHILD_SA)", async () => {
    const { a, b } = await pair({ remoteTs: "2001:db8:9::/48" }, {});
    await expect(a.ike.initiate("peer")).rejects.toThrow(/TS_UNACCEPTABLE/);
    expect(b.dp.esp.size).toBe(0);
  });

  it("narrowing: the responder answers with the part of the proposed selectors it allows", async () => {
    const { a } = await pair({ localTs: "2001:db8::/32", remoteTs: "2001:db8::/32" }, {});
    const info = await a.ike.initiate("peer");
    expect(info.children[0].localTs).toBe("2001:db8:1::..2001:db8:1:ffff:ffff:ffff:ffff:ffff");
    expect(info.children[0].remoteTs).toBe("2001:db8:2::..2001:db8:2:ffff:ffff:ffff:ffff:ffff");
  });

  it("retransmits lost messages and answers retransmitted requests from its cache", async () => {
    const lost = new Set([0, 2, 3]); // lose the first IKE_SA_INIT, the first IKE_AUTH and its retransmit
    const { a, b } = await pair({}, {}, (n) => lost.has(n));
    const info = await a.ike.initiate("peer");
    expect(info.state).toBe("established");
    expect(a.logs.join("\n")).toMatch(/retransmit 1 of request with message ID 0/);
    expect(b.ike.list()).toHaveLength(1);
  });

  it("two CHILD_SAs on one tunnel, the newer deleted: the tunnel sends with the other again (found against charon)", async () => {
    // Two IKE_SAs, each with a CHILD_SA bound to the same tunnel (a duplicate IKE_SA, or the
    // redundant pair of a rekey collision, RFC 7296 §2.8.1). Deleting the NEWER one used to
    // leave the tunnel without an outbound SA ("no-outbound-sa") although the older CHILD_SA
    // was still installed on both sides.
    const { a, b } = await pair();
    const first = await a.ike.initiate("peer");
    const second = await a.ike.initiate("peer");
    expect(b.ike.list()).toHaveLength(2);
    expect(carry(a.dp, b.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toBe("deliver");
    await a.ike.deleteIkeSa(second.id);
    await new Promise((r) => setTimeout(r, 20));
    expect(a.ike.list().map((s) => s.id)).toEqual([first.id]);
    expect(b.ike.list()).toHaveLength(1);
    expect(carry(a.dp, b.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toBe("deliver");
    expect(carry(b.dp, a.dp, ipv6("2001:db8:2::20", "2001:db8:1::10"))).toBe("deliver");
    // deleting the older one too leaves nothing to send with
    await b.ike.deleteIkeSa(b.ike.list()[0].id);
    await new Promise((r) => setTimeout(r, 20));
    expect(carry(a.dp, b.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toMatch(/no-outbound-sa/);
  });

  it("rekeys a CHILD_SA make-before-break and deletes IKE_SAs from either side", async () => {
    const { a, b } = await pair();
    const info = await a.ike.initiate("peer");
    const old = info.children[0];
    const fresh = await a.ike.rekeyChild(info.id, old.spiIn);
    expect(fresh.spiIn).not.toBe(old.spiIn);
    await new Promise((r) => setTimeout(r, 50));
    expect(a.ike.list()[0].children.map((c) => c.spiIn)).toEqual([fresh.spiIn]);
    expect(b.ike.list()[0].children.map((c) => c.spiOut)).toEqual([fresh.spiIn]);
    expect(carry(a.dp, b.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toBe("deliver");
    await b.ike.deleteIkeSa(b.ike.list()[0].id);
    await new Promise((r) => setTimeout(r, 50));
    expect(a.ike.list()).toEqual([]);
    expect(a.dp.esp.size + b.dp.esp.size).toBe(0);
  });
});
