// Two IKEv2 endpoints in one process, wired back to back: IKE_SA_INIT + IKE_AUTH with PSK,
// the CHILD_SA installed in both dataplanes and carrying IPv6 both ways, INVALID_KE_PAYLOAD,
// COOKIE, wrong PSK / identity / proposals / selectors ending with the RFC's notify,
// retransmission, CHILD_SA rekey and delete; IKE_SA rekey from either side, simultaneous
// IKE_SA and CHILD_SA rekeys (§2.8.1/§2.8.2), lifetime-driven rekeys and expiry (shortened
// with secondMs), INITIAL_CONTACT; certificates (RSA, RSASSA-PSS, ECDSA; wrong CA, identity
// not in the certificate) made with the openssl CLI by test/fixtures/ike/certs.ts.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { makeCerts } from "./fixtures/ike/certs.js";
import { loadConfig } from "../src/config/index.js";
import { createDataplane, type Dataplane } from "../src/pipeline.js";
import { IkeEndpoint, type IkeEndpointOptions, type UdpAddress } from "../src/ike/endpoint.js";

const A = "198.51.100.1";
const B = "198.51.100.2";

interface ConfOpts { extraChild?: string; proposals?: string; esp?: string; psk?: string; mode?: string; localTs?: string; remoteTs?: string; remoteId?: string; encap?: boolean; conn?: string; child?: string; local?: string; remote?: string; localId?: string; remoteAddrs?: string }

function conf(me: string, peer: string, opts: ConfOpts = {}) {
  const mode = opts.mode ?? "tunnel";
  const lts = opts.localTs ?? (mode === "transport" ? "dynamic[41]" : me === A ? "2001:db8:1::/48" : "2001:db8:2::/48");
  const rts = opts.remoteTs ?? (mode === "transport" ? "dynamic[41]" : me === A ? "2001:db8:2::/48" : "2001:db8:1::/48");
  return loadConfig(`
connections {
  peer {
    local_addrs = ${me}
    remote_addrs = ${opts.remoteAddrs ?? peer}
    proposals = ${opts.proposals ?? "aes128gcm16-prfsha256-ecp256"}
    encap = ${opts.encap ? "yes" : "no"}
    ${opts.conn ?? ""}
    local { ${opts.local ?? "auth = psk"}
      id = ${opts.localId ?? me} }
    remote { ${opts.remote ?? "auth = psk"}
      id = ${opts.remoteId ?? peer} }
    children {
      net {
        ${opts.child ?? ""}
        mode = ${mode}
        local_ts = ${lts}
        remote_ts = ${rts}
        esp_proposals = ${opts.esp ?? "aes128gcm16"}
      }
      ${opts.extraChild ?? ""}
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

// eslint-disable-next-line @typescript-eslint/no-explicit-any
let mkSide: (me: string, peer: string, o: ConfOpts) => Promise<Side> = undefined as any;

interface Side {
  ike: IkeEndpoint;
  dp: Dataplane;
  logs: string[];
  sent: number;
}

/** Two endpoints connected back to back; `drop(n, from, data)` decides whether the n-th datagram is lost. */
async function pair(aOpts: ConfOpts = {}, bOpts: ConfOpts = {}, drop: (n: number, from: string, data: Uint8Array) => boolean = () => false, extra: Partial<IkeEndpointOptions> = {}) {
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
      ...extra,
      send: (data: Uint8Array, from: UdpAddress, to: UdpAddress) => {
        side.sent++;
        if (drop(n++, me, data)) return;
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
  mkSide = mk;
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

/** An ESP packet (raw, after the outer IPv4 header) from `from`'s outbound path, and its SPI. */
function espOut(from: Dataplane, pkt: Uint8Array): { outer: Uint8Array; spi: number } {
  const o = from.createBatch({ packets: 1 });
  o.addPacket(pkt);
  from.outbound(o);
  expect(o.verdict(0)).toBe("send");
  const outer = o.output(0).slice();
  return { outer, spi: new DataView(outer.buffer).getUint32(20) };
}

/** Hand an outer packet to `to`'s inbound path: "deliver" or the drop reason. */
function espIn(to: Dataplane, outer: Uint8Array): string {
  const i = to.createBatch({ packets: 1 });
  i.addPacket(outer);
  to.inbound(i);
  return i.verdict(0) === "deliver" ? "deliver" : i.reason(0);
}

/** IKE header: exchange type and flags (byte 18, 19; no non-ESP marker on port 500). */
const isExchange = (d: Uint8Array, type: number, response: boolean) => d.length > 20 && d[18] === type && ((d[19] & 0x20) !== 0) === response;
const CREATE_CHILD_SA = 36;
const INFORMATIONAL = 37;

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

  it("CHILD_SA rekeys with PFS (§1.3.1, §2.17): a KE payload in CREATE_CHILD_SA both ways, INVALID_KE_PAYLOAD answered with a retry in the responder's group, new keys on both sides", async () => {
    let requests = 0;
    const { a, b } = await pair({ esp: "aes128gcm16-curve25519-ecp256" }, { esp: "aes128gcm16-ecp256" }, (_n, from, d) => {
      if (from === A && isExchange(d, CREATE_CHILD_SA, false)) requests++;
      return false;
    });
    const info = await a.ike.initiate("peer");
    expect(info.children[0].dhGroup).toBeUndefined(); // IKE_AUTH's CHILD_SA: keys from the IKE_SA's exchange
    // a offers curve25519 first; b takes only ecp256 and asks for it; a retries.
    const second = await a.ike.rekeyChild(info.id, info.children[0].spiIn);
    expect(requests).toBe(2);
    expect(second.dhGroup).toBe(19);
    expect(a.logs.join("\n")).toContain("the peer asks for DH group 19, not 31");
    await new Promise((r) => setTimeout(r, 50));
    expect(b.ike.list()[0].children.map((c) => [c.spiOut, c.dhGroup])).toEqual([[second.spiIn, 19]]);
    expect(carry(a.dp, b.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toBe("deliver");
    expect(carry(b.dp, a.dp, ipv6("2001:db8:2::20", "2001:db8:1::10"))).toBe("deliver");
    // b rekeys with ecp256, which a takes at once (no INVALID_KE_PAYLOAD round).
    const y = b.ike.list()[0];
    const third = await b.ike.rekeyChild(y.id, y.children[0].spiIn);
    expect(third.dhGroup).toBe(19);
    await new Promise((r) => setTimeout(r, 50));
    expect(a.ike.list()[0].children.map((c) => [c.spiOut, c.dhGroup])).toEqual([[third.spiIn, 19]]);
    expect(carry(a.dp, b.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toBe("deliver");
    expect(carry(b.dp, a.dp, ipv6("2001:db8:2::20", "2001:db8:1::10"))).toBe("deliver");
  });

  it("PFS required on one side only: the rekey gets NO_PROPOSAL_CHOSEN either way and the old CHILD_SA stays; a group with \"none\" makes PFS optional", async () => {
    const { a, b } = await pair({ esp: "aes128gcm16-ecp256" }, { esp: "aes128gcm16" });
    const info = await a.ike.initiate("peer");
    const c = info.children[0];
    await expect(a.ike.rekeyChild(info.id, c.spiIn)).rejects.toThrow("rekey refused: NO_PROPOSAL_CHOSEN");
    const y = b.ike.list()[0];
    await expect(b.ike.rekeyChild(y.id, y.children[0].spiIn)).rejects.toThrow("rekey refused: NO_PROPOSAL_CHOSEN");
    expect(a.ike.list()[0].children.map((x) => x.spiIn)).toEqual([c.spiIn]);
    expect(carry(a.dp, b.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toBe("deliver");
    // "ecp256-none": a proposes KE 19 and NONE; b, without groups, takes NONE: no PFS, no error.
    const { a: a2, b: b2 } = await pair({ esp: "aes128gcm16-ecp256-none" }, { esp: "aes128gcm16" });
    const i2 = await a2.ike.initiate("peer");
    const r2 = await a2.ike.rekeyChild(i2.id, i2.children[0].spiIn);
    expect(r2.dhGroup).toBeUndefined();
    expect(carry(a2.dp, b2.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toBe("deliver");
    expect(carry(b2.dp, a2.dp, ipv6("2001:db8:2::20", "2001:db8:1::10"))).toBe("deliver");
  });

  /** A second child "net2" (tunnel mode, 2001:db8:1:2::/64 ↔ 2001:db8:2:2::/64, PFS with ecp256) for side `me`. */
  const withNet2 = (me: string): ConfOpts => {
    const [l, r] = me === A ? ["1", "2"] : ["2", "1"];
    return {
      extraChild: `net2 {
        mode = tunnel
        local_ts = 2001:db8:${l}:2::/64
        remote_ts = 2001:db8:${r}:2::/64
        esp_proposals = aes128gcm16-ecp256
      }`,
    };
  };

  it("a second CHILD_SA of the connection with CREATE_CHILD_SA (createChild, with PFS): both tunnel-mode CHILD_SAs carry their own traffic over the one tunnel, both ways", async () => {
    const narrow = (me: string) => ({ ...withNet2(me), localTs: `2001:db8:${me === A ? 1 : 2}:1::/64`, remoteTs: `2001:db8:${me === A ? 2 : 1}:1::/64` });
    const { a, b } = await pair(narrow(A), narrow(B));
    const info = await a.ike.initiate("peer", "net");
    expect(info.children.map((c) => c.name)).toEqual(["net"]);
    const second = await a.ike.createChild(info.id, "net2");
    expect(second).toMatchObject({ name: "net2", dhGroup: 19, localTs: "2001:db8:1:2::..2001:db8:1:2:ffff:ffff:ffff:ffff" });
    await new Promise((r) => setTimeout(r, 30));
    expect(b.ike.list()[0].children.map((c) => c.name).sort()).toEqual(["net", "net2"]);
    for (const n of [1, 2]) {
      expect(carry(a.dp, b.dp, ipv6(`2001:db8:1:${n}::10`, `2001:db8:2:${n}::20`)), `net${n} a→b`).toBe("deliver");
      expect(carry(b.dp, a.dp, ipv6(`2001:db8:2:${n}::20`, `2001:db8:1:${n}::10`)), `net${n} b→a`).toBe("deliver");
    }
    // Outside both: no SA covers it.
    expect(carry(a.dp, b.dp, ipv6("2001:db8:1:3::10", "2001:db8:2:3::20"))).toBe("outbound dropped selector-mismatch");
    const before = [a.ike.list()[0].children.length, a.dp.esp.size, b.dp.esp.size];
    await expect(a.ike.createChild(info.id, "nope")).rejects.toMatchObject({ code: "ERR_CONFIG", message: "connection 'peer' has no child 'nope'" });
    await expect(a.ike.createChild(info.id + 99, "net2")).rejects.toMatchObject({ code: "ERR_CONFIG", message: "no such established IKE_SA" });
    expect([a.ike.list()[0].children.length, a.dp.esp.size, b.dp.esp.size]).toEqual(before);
  });

  it("the responder takes the child whose selectors match exactly (as charon), and a rekey keeps the child it rekeys: a narrow PFS child listed after a wide one", async () => {
    const { a, b } = await pair(withNet2(A), withNet2(B));
    const info = await a.ike.initiate("peer", "net");
    // The wide "net" (2001:db8:1::/48) also holds net2's /64s; b takes net2, which matches exactly.
    const second = await a.ike.createChild(info.id, "net2");
    expect(second.dhGroup).toBe(19);
    await new Promise((r) => setTimeout(r, 30));
    const theirs = b.ike.list()[0].children.find((c) => c.spiOut === second.spiIn)!;
    expect([theirs.name, theirs.dhGroup]).toEqual(["net2", 19]);
    // b rekeys its net2: a answers with net2's settings (PFS), not with the wide child first in its list.
    const y = b.ike.list()[0];
    const rekeyed = await b.ike.rekeyChild(y.id, theirs.spiIn);
    expect([rekeyed.name, rekeyed.dhGroup]).toEqual(["net2", 19]);
    await new Promise((r) => setTimeout(r, 30));
    expect(a.ike.list()[0].children.find((c) => c.spiOut === rekeyed.spiIn)).toMatchObject({ name: "net2", dhGroup: 19 });
    for (const n of [1, 2]) expect(carry(a.dp, b.dp, ipv6(`2001:db8:1:${n}::10`, `2001:db8:2:${n}::20`)), `net${n}`).toBe("deliver");
  });

  it("a request queued behind a CREATE_CHILD_SA waits for its INVALID_KE_PAYLOAD retry (one request in flight, §2.3); a child whose DH groups we all lack is not rekeyed without PFS", async () => {
    const { a } = await pair({ esp: "aes128gcm16-curve25519-ecp256" }, { esp: "aes128gcm16-ecp256" });
    const info = await a.ike.initiate("peer");
    const both = Promise.all([a.ike.rekeyChild(info.id, info.children[0].spiIn), a.ike.ping(info.id)]);
    const timeout = new Promise<never>((_, rej) => setTimeout(() => rej(new Error("rekey + ping did not settle within 2 s")), 2000));
    const [rekeyed, alive] = await Promise.race([both, timeout]);
    expect([rekeyed.dhGroup, alive]).toEqual([19, true]);
    const { a: a2 } = await pair({ esp: "aes128gcm16-modp1024" }, { esp: "aes128gcm16-modp1024" });
    const i2 = await a2.ike.initiate("peer"); // IKE_AUTH's CHILD_SA needs no group
    await expect(a2.ike.rekeyChild(i2.id, i2.children[0].spiIn)).rejects.toThrow(/no ESP proposal of child net can be offered \(DH groups not supported: modp1024\)/);
    expect(a2.ike.list()[0].children.map((c) => c.spiIn)).toEqual([i2.children[0].spiIn]);
  });

  const settle = (ms = 60) => new Promise((r) => setTimeout(r, ms));
  const flows = (a: Side, b: Side) => {
    expect(carry(a.dp, b.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toBe("deliver");
    expect(carry(b.dp, a.dp, ipv6("2001:db8:2::20", "2001:db8:1::10"))).toBe("deliver");
  };
  /** One IKE_SA on each side, the same one, with the same single CHILD_SA. */
  const agree = (a: Side, b: Side) => {
    const [x] = a.ike.list();
    const [y] = b.ike.list();
    expect(a.ike.list()).toHaveLength(1);
    expect(b.ike.list()).toHaveLength(1);
    expect([x.spiI, x.spiR]).toEqual([y.spiI, y.spiR]);
    expect(x.children).toHaveLength(1);
    expect(y.children).toHaveLength(1);
    expect([x.children[0].spiIn, x.children[0].spiOut]).toEqual([y.children[0].spiOut, y.children[0].spiIn]);
    return { x, y };
  };

  it.each([["initiator", "a"], ["responder", "b"]])("IKE_SA rekey by the IKE_SA's %s (§2.18): new SPIs and keys, the CHILD_SA moves over, message IDs from 0, the old IKE_SA deleted", async (_n, who) => {
    const { a, b } = await pair();
    const info = await a.ike.initiate("peer");
    const child = info.children[0];
    const rekeyer = who === "a" ? a : b;
    const before = rekeyer.ike.list()[0];
    const fresh = await rekeyer.ike.rekeyIkeSa(before.id);
    expect(fresh.id).not.toBe(before.id);
    expect([fresh.spiI, fresh.spiR]).not.toContain(before.spiI);
    expect(fresh.initiator).toBe(true); // the rekey initiator is the new IKE_SA's original initiator
    await settle();
    const { x, y } = agree(a, b);
    expect(x.children[0].spiIn).toBe(child.spiIn);
    expect([x.initiator, y.initiator]).toEqual([who === "a", who === "b"]);
    flows(a, b);
    // the new IKE_SA's keys work both ways: requests from each side, a CHILD_SA rekey (SK_d)
    expect(await a.ike.ping(x.id)).toBe(true);
    expect(await b.ike.ping(y.id)).toBe(true);
    const c2 = await b.ike.rekeyChild(y.id, y.children[0].spiIn);
    await settle();
    expect(agree(a, b).y.children[0].spiIn).toBe(c2.spiIn);
    flows(a, b);
    // and it can be rekeyed again, and deleted
    const again = await a.ike.rekeyIkeSa(x.id);
    await settle();
    expect(agree(a, b).x.id).toBe(again.id);
    flows(a, b);
    await a.ike.deleteIkeSa(again.id);
    await settle();
    expect(b.ike.list()).toEqual([]);
    expect(a.dp.esp.size + b.dp.esp.size).toBe(0);
  });

  it("simultaneous IKE_SA rekeys (§2.8.2): the new IKE_SA with the lowest nonce is deleted, one IKE_SA survives on both sides", async () => {
    for (let round = 0; round < 4; round++) {
      const { a, b } = await pair();
      const info = await a.ike.initiate("peer");
      const [bi] = b.ike.list();
      const [ra, rb] = await Promise.all([a.ike.rekeyIkeSa(info.id), b.ike.rekeyIkeSa(bi.id)]);
      expect([ra.spiI, ra.spiR]).toEqual([rb.spiI, rb.spiR]);
      await settle(100);
      const { x } = agree(a, b);
      expect([x.spiI, x.spiR]).toEqual([ra.spiI, ra.spiR]);
      expect(a.logs.join("\n") + b.logs.join("\n")).toMatch(/IKE_SA rekey collision: ours .* has the lowest nonce/);
      flows(a, b);
      expect(await a.ike.ping(x.id)).toBe(true);
      await a.ike.close();
      await b.ike.close();
    }
  });

  it("simultaneous CHILD_SA rekeys (§2.8.1): the redundant CHILD_SA is deleted by its maker, the old one by the other side", async () => {
    for (let round = 0; round < 4; round++) {
      const { a, b } = await pair({}, {}, () => false, { rekeyedInboundGraceMs: 50 });
      const info = await a.ike.initiate("peer");
      const [bi] = b.ike.list();
      const [ca, cb] = await Promise.all([a.ike.rekeyChild(info.id, info.children[0].spiIn), b.ike.rekeyChild(bi.id, bi.children[0].spiIn)]);
      expect([ca.spiIn, ca.spiOut]).toEqual([cb.spiOut, cb.spiIn]);
      await settle(100);
      const { x } = agree(a, b);
      expect(x.children[0].spiIn).toBe(ca.spiIn);
      expect([ca.spiIn, ca.spiOut]).not.toContain(info.children[0].spiIn);
      expect(a.logs.join("\n") + b.logs.join("\n")).toMatch(/CHILD_SA rekey collision: ours .* has the lowest nonce/);
      flows(a, b);
      await settle(60); // the deleted SAs' inbound sides linger for rekeyedInboundGraceMs
      expect(a.dp.esp.size).toBe(2);
      expect(b.dp.esp.size).toBe(2);
      await a.ike.close();
      await b.ike.close();
    }
  });

  it("lifetimes: CHILD_SAs rekeyed by rekey_time on both sides (colliding), by rekey_packets, deleted at life_time; IKE_SA rekeyed by rekey_time", async () => {
    // 25 times faster; the rekeyed SAs' inbound grace too (5 s → 200 ms), or they would fill the SA table
    const fast = { secondMs: 40, pollMs: 10, rekeyedInboundGraceMs: 200 };
    // same CHILD_SA rekey_time on both sides: rekeys collide and must still end with one SA
    {
      const o = { child: "rekey_time = 2s\n life_time = 100s\n rand_time = 0" };
      const { a, b } = await pair(o, o, () => false, fast);
      const info = await a.ike.initiate("peer");
      await settle(400);
      const { x } = agree(a, b);
      expect(x.children[0].spiIn).not.toBe(info.children[0].spiIn);
      expect(a.logs.join("\n")).toMatch(/rekeying CHILD_SA net\{\d+\} [0-9a-f]{8}_i: rekey_time 2s/);
      flows(a, b);
      await a.ike.close();
      await b.ike.close();
    }
    // rekey_packets on one side: 3 packets, then a rekey
    {
      const { a, b } = await pair({ child: "rekey_time = 0\n rekey_packets = 3\n life_packets = 100\n rand_packets = 0" }, {}, () => false, fast);
      const info = await a.ike.initiate("peer");
      flows(a, b);
      await settle(50);
      expect(agree(a, b).x.children[0].spiIn).toBe(info.children[0].spiIn);
      flows(a, b);
      flows(a, b); // the third packet each way
      await settle(80);
      const { x } = agree(a, b);
      expect(x.children[0].spiIn).not.toBe(info.children[0].spiIn);
      expect(a.logs.join("\n")).toMatch(/rekey_packets 3 \(\d+ packets\)/);
      flows(a, b);
      await a.ike.close();
      await b.ike.close();
    }
    // life_time without rekeying: the CHILD_SA is deleted, the IKE_SA stays
    {
      const { a, b } = await pair({ child: "rekey_time = 0\n life_time = 3s" }, {}, () => false, fast);
      await a.ike.initiate("peer");
      await settle(250);
      expect(a.ike.list()[0].children).toEqual([]);
      expect(b.ike.list()[0].children).toEqual([]);
      expect(a.logs.join("\n")).toMatch(/expired \(life_time 3s\)/);
      expect(a.dp.esp.size + b.dp.esp.size).toBe(0);
      await a.ike.close();
    }
    // IKE_SA rekey_time on the responder
    {
      const { a, b } = await pair({}, { conn: "rekey_time = 3s\n rand_time = 0\n over_time = 10s" }, () => false, fast);
      const info = await a.ike.initiate("peer");
      await settle(300);
      const { x } = agree(a, b);
      expect(x.id).not.toBe(info.id);
      expect(x.spiI).not.toBe(info.spiI);
      flows(a, b);
      await a.ike.close();
      await b.ike.close();
    }
  });

  describe("CHILD_SA rekey without loss (the responder switches on the Delete; rekeyed inbound SAs linger)", () => {
    const a6 = "2001:db8:1::10";
    const b6 = "2001:db8:2::20";

    it("the rekey's responder sends on the old SA until the initiator deletes it: its packets sent before the initiator has the answer (held, or lost and retransmitted) are accepted", async () => {
      let holdAnswer = true;
      // B's CREATE_CHILD_SA answers never reach A while holdAnswer (A retransmits; B answers from its cache)
      const { a, b } = await pair({}, {}, (_n, from, d) => holdAnswer && from === B && isExchange(d, CREATE_CHILD_SA, true));
      const info = await a.ike.initiate("peer");
      const old = info.children[0];
      const rekey = a.ike.rekeyChild(info.id, old.spiIn);
      await settle(50); // B answered (more than once): the new SA is installed at B, A does not have it
      const [bsa] = b.ike.list();
      expect(bsa.children).toHaveLength(2);
      const fresh = bsa.children[1];
      // B still sends on the old SA, which A decrypts; A's packets on the old SA reach B too
      const p1 = espOut(b.dp, ipv6(b6, a6));
      expect(p1.spi).toBe(old.spiIn);
      expect(espIn(a.dp, p1.outer)).toBe("deliver");
      expect(carry(a.dp, b.dp, ipv6(a6, b6))).toBe("deliver");
      // a packet B sends right now, delivered after A processed the answer (and deleted the old SA): accepted too
      const late = espOut(b.dp, ipv6(b6, a6));
      expect(late.spi).toBe(old.spiIn);
      holdAnswer = false;
      const c = await rekey;
      expect(c.spiIn).toBe(fresh.spiOut);
      await settle(30); // the Delete went both ways
      expect(b.logs.join("\n")).toMatch(new RegExp(`now sends with ${c.spiIn.toString(16).padStart(8, "0")}_o: old CHILD_SA [0-9a-f]{8}_i deleted`));
      expect(espIn(a.dp, late.outer)).toBe("deliver");
      // now B sends on the new SA
      const p2 = espOut(b.dp, ipv6(b6, a6));
      expect(p2.spi).toBe(c.spiIn);
      expect(espIn(a.dp, p2.outer)).toBe("deliver");
      flows(a, b);
      expect(b.ike.list()[0].children.map((x) => x.spiIn)).toEqual([c.spiOut]);
      await a.ike.close();
      await b.ike.close();
    });

    it("without the initiator's Delete the responder switches to the new SA after rekeyOutboundFallbackMs", async () => {
      let deletes = 0;
      // lose A's first Delete (INFORMATIONAL request); its retransmission comes 300 ms later
      const { a, b } = await pair({}, {}, (_n, from, d) => from === A && isExchange(d, INFORMATIONAL, false) && deletes++ === 0, { retransmit: { timeout: 300, tries: 3 }, rekeyOutboundFallbackMs: 60 });
      const info = await a.ike.initiate("peer");
      const c = await a.ike.rekeyChild(info.id, info.children[0].spiIn);
      await settle(20);
      expect(espOut(b.dp, ipv6(b6, a6)).spi).toBe(info.children[0].spiIn); // old SA, still
      await settle(80);
      expect(b.logs.join("\n")).toMatch(/now sends with [0-9a-f]{8}_o: no Delete of the old CHILD_SA within 60 ms/);
      const p = espOut(b.dp, ipv6(b6, a6));
      expect(p.spi).toBe(c.spiIn);
      expect(espIn(a.dp, p.outer)).toBe("deliver");
      await settle(350); // the retransmitted Delete
      expect(b.ike.list()[0].children.map((x) => x.spiOut)).toEqual([c.spiIn]);
      flows(a, b);
      await a.ike.close();
      await b.ike.close();
    });

    it("a packet on the old SA arriving after the Delete is accepted for rekeyedInboundGraceMs (replays still refused), then dropped; destroy removes the lingering SAs at once", async () => {
      const { a, b } = await pair({}, {}, () => false, { rekeyedInboundGraceMs: 150 });
      const info = await a.ike.initiate("peer");
      // sent on the old SA, still on the wire …
      const ab = [espOut(a.dp, ipv6(a6, b6)), espOut(a.dp, ipv6(a6, b6))];
      const ba = [espOut(b.dp, ipv6(b6, a6)), espOut(b.dp, ipv6(b6, a6))];
      expect(espIn(b.dp, ab[0].outer)).toBe("deliver");
      // … while the rekey and the Delete of the old SA complete (either side initiating)
      const c = await b.ike.rekeyChild(b.ike.list()[0].id, b.ike.list()[0].children[0].spiIn);
      await settle(20);
      expect(a.ike.list()[0].children.map((x) => x.spiIn)).toEqual([c.spiOut]);
      expect(b.ike.list()[0].children.map((x) => x.spiIn)).toEqual([c.spiIn]);
      expect(a.dp.esp.size).toBe(3); // new in + out, old in
      expect(b.dp.esp.size).toBe(3);
      expect(espIn(b.dp, ab[1].outer)).toBe("deliver");
      expect(espIn(a.dp, ba[0].outer)).toBe("deliver");
      expect(espIn(b.dp, ab[0].outer)).toBe("replayed");
      expect(espIn(a.dp, ba[0].outer)).toBe("replayed");
      flows(a, b);
      await settle(200);
      expect(espIn(a.dp, ba[1].outer)).toBe("unknown-spi");
      expect(a.dp.esp.size).toBe(2);
      expect(b.dp.esp.size).toBe(2);
      // within the grace period, deleting the IKE_SA removes everything at once
      await a.ike.rekeyChild(a.ike.list()[0].id, a.ike.list()[0].children[0].spiIn);
      await settle(20);
      expect(a.dp.esp.size).toBe(3);
      await a.ike.deleteIkeSa(a.ike.list()[0].id);
      expect(a.dp.esp.size).toBe(0);
      await settle(20);
      expect(b.dp.esp.size).toBe(0);
    });

    it("lingering inbound SAs follow the CHILD_SAs to a rekeyed IKE_SA, and close() removes them", async () => {
      const { a, b } = await pair({}, {}, () => false, { rekeyedInboundGraceMs: 5000 });
      const info = await a.ike.initiate("peer");
      const inFlight = espOut(b.dp, ipv6(b6, a6));
      await a.ike.rekeyChild(info.id, info.children[0].spiIn);
      await settle(20);
      const fresh = await a.ike.rekeyIkeSa(info.id);
      await settle(30);
      expect(a.ike.list().map((s) => s.id)).toEqual([fresh.id]);
      expect(espIn(a.dp, inFlight.outer)).toBe("deliver"); // the old IKE_SA is gone, its rekeyed CHILD_SA's inbound SA is not
      expect(a.dp.esp.size).toBe(3);
      await a.ike.close();
      await b.ike.close();
      expect(a.dp.esp.size + b.dp.esp.size).toBe(0);
    });
  });

  it("half-open IKE_SAs: at most halfOpenPerPeer per address and halfOpenLimit in all (beyond, IKE_SA_INIT is dropped silently, counted, logged once a second); they expire after halfOpenTimeoutMs", async () => {
    const limits = { halfOpenLimit: 4, halfOpenPerPeer: 2, halfOpenTimeoutMs: 150 };
    const { a, b } = await pair({}, { remoteAddrs: "198.51.100.0/24" }, () => false, limits);
    // An IKE_SA_INIT request from an endpoint that sends nothing else; every peer sends it with a fresh SPIi.
    let template: Uint8Array | undefined;
    const capturer = new IkeEndpoint({ config: conf(A, B), send: (d) => void (template ??= d.slice()), retransmit: { timeout: 60_000, tries: 0 } });
    void capturer.initiate("peer").catch(() => {});
    await capturer.close();
    expect(template).toBeDefined();
    let spi = 0;
    /** One IKE_SA_INIT from `address`; true when the responder answered. */
    const init = (address: string) => {
      const m = template!.slice();
      new DataView(m.buffer).setUint32(4, ++spi);
      const before = b.sent;
      b.ike.receive(m, { address, port: 500 }, { address: B, port: 500 });
      return b.sent > before;
    };
    const halfOpen = () => b.ike.list().filter((s) => !s.initiator && s.state !== "established").length;
    const peers = ["198.51.100.10", "198.51.100.11", "198.51.100.12"];
    const answered = peers.map((p) => [init(p), init(p), init(p)]);
    expect(answered).toEqual([[true, true, false], [true, true, false], [false, false, false]]);
    expect(halfOpen()).toBe(4);
    expect(b.ike.counters).toEqual({ initDroppedLimit: 4, initDroppedPerPeer: 1, halfOpenExpired: 0 }); // the third from .11 meets the global limit already
    expect(b.logs.filter((l) => l.startsWith("dropping IKE_SA_INIT requests"))).toHaveLength(1);
    // the honest peer (A itself) is refused while the limit holds …
    const honest = a.ike.initiate("peer");
    await settle(60);
    expect(b.ike.list().filter((s) => s.state === "established")).toHaveLength(0);
    expect(b.ike.counters.initDroppedLimit).toBeGreaterThan(4);
    // … and gets in with a retransmission once the half-open SAs have expired
    await settle(120);
    expect(halfOpen()).toBe(0);
    expect(b.ike.counters.halfOpenExpired).toBe(4);
    expect(b.logs.join("\n")).toMatch(/half-open IKE_SA peer\[\d+\] from 198\.51\.100\.10 not authenticated within 150 ms: destroying it/);
    const info = await honest;
    expect(info.state).toBe("established");
    expect(init("198.51.100.12")).toBe(true);
    // an established IKE_SA is not half-open: it outlives the timeout
    await settle(200);
    expect(b.ike.list().filter((s) => s.state === "established")).toHaveLength(1);
    expect(b.ike.list()).toHaveLength(1);
    expect(b.ike.counters.halfOpenExpired).toBe(5); // the one from 198.51.100.12
    flows(a, b);
    await a.ike.close();
    await b.ike.close();
  });

  it("INITIAL_CONTACT (§2.4): a restarted peer's new IKE_SA replaces the one we still hold", async () => {
    const { a, b } = await pair();
    await a.ike.initiate("peer");
    expect(b.ike.list()).toHaveLength(1);
    // a restarts: a new endpoint for the same address, knowing nothing of the old IKE_SA
    const a2 = await mkSide(A, B, {});
    const info = await a2.ike.initiate("peer");
    await settle();
    expect(b.ike.list()).toHaveLength(1);
    expect(b.ike.list()[0].spiI).toBe(info.spiI);
    expect(b.logs.join("\n")).toMatch(/INITIAL_CONTACT from 198\.51\.100\.1: deleting IKE_SA peer\[\d+\]/);
    expect(carry(a2.dp, b.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toBe("deliver");
  });
});

describe("IKEv2 with certificates (RFC 7296 §3.6–3.8, RFC 7427)", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "i6-ike-certs-"));
    makeCerts(dir, ["ca", "other-ca"], [
      { name: "a-rsa", type: "rsa", ip: A, dns: "a.example" },
      { name: "b-rsa", type: "rsa", ip: B, dns: "b.example" },
      { name: "a-ec", type: "ec", ip: A },
      { name: "b-ec", type: "ec", ip: B, dns: "b.example" },
      { name: "b-other", type: "ec", ip: B, ca: "other-ca" },
    ]);
  }, 60_000);
  const certSide = (cert: string, extra: ConfOpts = {}): ConfOpts => ({ local: `auth = pubkey\n certs = ${cert}.pem`, remote: "auth = pubkey\n cacerts = ca.pem", ...extra });

  it.each([
    ["RSA (PKCS#1 v1.5, SHA-256) both ways", "a-rsa", "b-rsa", false],
    ["RSASSA-PSS", "a-rsa", "b-rsa", true],
    ["ECDSA P-256", "a-ec", "b-ec", false],
    ["RSA one way, ECDSA the other", "a-rsa", "b-ec", false],
  ])("%s: IKE_SA and CHILD_SA up, traffic flows", async (_n, ac, bc, pss) => {
    const creds = { credentials: { swanctlDir: dir, rsaPss: pss as boolean } };
    const { a, b } = await pair(certSide(ac as string), certSide(bc as string), () => false, creds);
    const info = await a.ike.initiate("peer");
    expect(info.state).toBe("established");
    expect(a.logs.join("\n") + b.logs.join("\n")).not.toMatch(/failed/);
    expect(carry(a.dp, b.dp, ipv6("2001:db8:1::10", "2001:db8:2::20"))).toBe("deliver");
    await a.ike.close();
  });

  it("FQDN identities matched against subjectAltName dNSName", async () => {
    const creds = { credentials: { swanctlDir: dir } };
    const { a } = await pair(certSide("a-rsa", { localId: "a.example", remoteId: "b.example" }), certSide("b-ec", { localId: "b.example", remoteId: "a.example" }), () => false, creds);
    expect((await a.ike.initiate("peer")).state).toBe("established");
  });

  it("a certificate from another CA ends with AUTHENTICATION_FAILED", async () => {
    const creds = { credentials: { swanctlDir: dir } };
    const { a } = await pair(certSide("a-ec"), certSide("b-other"), () => false, creds);
    await expect(a.ike.initiate("peer")).rejects.toThrow(/not issued by a trusted CA/);
  });

  it("an identity the certificate does not hold ends with AUTHENTICATION_FAILED", async () => {
    const creds = { credentials: { swanctlDir: dir } };
    // a claims b.example with a certificate for 198.51.100.1 / a.example
    const { a, b } = await pair(certSide("a-rsa", { localId: "b.example", remoteId: B }), certSide("b-ec", { remoteId: "%any" }), () => false, creds);
    await expect(a.ike.initiate("peer")).rejects.toThrow(/AUTHENTICATION_FAILED/);
    expect(b.logs.join("\n")).toMatch(/identity b\.example is not in the peer's certificate/);
  });

  it("mixed: PSK one way, a certificate the other", async () => {
    const creds = { credentials: { swanctlDir: dir } };
    const { a } = await pair({ remote: "auth = pubkey\n cacerts = ca.pem" }, certSide("b-ec", { remote: "auth = psk" }), () => false, creds);
    expect((await a.ike.initiate("peer")).state).toBe("established");
  });

  it("a PSK where a certificate is wanted ends with AUTHENTICATION_FAILED", async () => {
    const creds = { credentials: { swanctlDir: dir } };
    const { a, b } = await pair({ remote: "auth = pubkey\n cacerts = ca.pem" }, certSide("b-ec"), () => false, creds);
    await expect(a.ike.initiate("peer")).rejects.toThrow(/AUTHENTICATION_FAILED/);
    expect(b.logs.join("\n")).toMatch(/no PSK authentication agreed/);
  });

  it("AUTH methods without RFC 7427: RSA (1, SHA-1) and ECDSA P-256 (9) sign and verify; tampering is caught", async () => {
    const { signAuth, verifyAuth, loadLocalCredential } = await import("../src/ike/auth-sig.js");
    for (const [cert, method] of [["a-rsa.pem", 1], ["a-ec.pem", 9]] as const) {
      const cred = loadLocalCredential([cert], { swanctlDir: dir });
      const octets = new Uint8Array(100).fill(7);
      const s = signAuth(cred.key, octets, { rfc7427: false });
      expect(s.method).toBe(method);
      expect(verifyAuth(cred.cert.publicKey, s.method, s.data, octets)).toBeUndefined();
      octets[0] ^= 1;
      expect(verifyAuth(cred.cert.publicKey, s.method, s.data, octets)).toMatch(/does not verify/);
    }
  });
});

describe("RFC 7296 §2.5: unknown critical payloads", () => {
  it("an IKE_SA_INIT request carrying one is answered with UNSUPPORTED_CRITICAL_PAYLOAD and its type; no SA is made", async () => {
    const { encodeIkeMessage, decodeIkeMessage } = await import("../src/ike/message.js");
    const C = await import("../src/ike/constants.js");
    const sent: Uint8Array[] = [];
    const ep = new IkeEndpoint({ config: conf(B, A), send: (d) => sent.push(d) });
    const spiI = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const req = encodeIkeMessage({
      header: { spiI, spiR: new Uint8Array(8), exchangeType: C.IKE_SA_INIT, flags: { initiator: true }, messageId: 0 },
      payloads: [
        { type: C.PT_NONCE, fields: { nonce: new Uint8Array(32).fill(7) } },
        { type: 201, critical: true, body: new Uint8Array([1, 2, 3]) },
      ],
    });
    ep.receive(req, { address: A, port: 500 }, { address: B, port: 500 });
    expect(sent).toHaveLength(1);
    const resp = decodeIkeMessage(sent[0]);
    expect(resp.header.flags.response).toBe(true);
    const n = resp.payloads.find((p) => p.type === C.PT_NOTIFY)!;
    expect(n.fields.notifyType).toBe(C.N_UNSUPPORTED_CRITICAL_PAYLOAD);
    expect(n.fields.data).toBe("c9"); // the payload type, 201
    expect(ep.list()).toEqual([]);
  });
});

describe("RFC 7296 §2.21.2: unauthenticated bytes in an IKE_SA change nothing", () => {
  it("forged requests with the IKE_SA's SPIs and every next message ID — a critical payload in clear, bytes after the message — get no answer and do not move the window", async () => {
    const { encodeIkeMessage } = await import("../src/ike/message.js");
    const C = await import("../src/ike/constants.js");
    const { a, b } = await pair();
    const sa = await a.ike.initiate("peer");
    const y = b.ike.list()[0];
    const spi = (h: string) => Uint8Array.from(Buffer.from(h, "hex"));
    const sentBefore = b.sent;
    for (let messageId = 0; messageId < 8; messageId++) {
      const header = { spiI: spi(y.spiI), spiR: spi(y.spiR), exchangeType: C.INFORMATIONAL, flags: { initiator: true }, messageId };
      // an unknown critical payload before a (garbage) Encrypted payload
      const critical = encodeIkeMessage({ header, payloads: [{ type: 201, critical: true, body: new Uint8Array([1, 2, 3]) }, { type: C.PT_SK, body: new Uint8Array(40) }] });
      // an empty Encrypted payload of the right length, one byte after it
      const trailing = encodeIkeMessage({ header, payloads: [{ type: C.PT_SK, body: new Uint8Array(40) }] });
      b.ike.receive(critical, { address: A, port: 500 }, { address: B, port: 500 });
      b.ike.receive(Uint8Array.from([...trailing, 0]), { address: A, port: 500 }, { address: B, port: 500 });
    }
    expect(b.sent).toBe(sentBefore);
    expect(b.logs.filter((l) => l.startsWith("malformed message from"))).toHaveLength(16);
    // The honest peer's next request is still the one B expects.
    expect(await a.ike.ping(sa.id)).toBe(true);
    expect(b.logs.join("\n")).not.toMatch(/expected \d+: ignored/);
  });

  it("a request that gets no answer settles: ping resolves false and rekeyChild rejects when the IKE_SA dies", async () => {
    const { a } = await pair({}, {}, (_n, from) => from === A && established);
    let established = false;
    const sa = await a.ike.initiate("peer");
    established = true;
    const [pong, rekey] = await Promise.allSettled([a.ike.ping(sa.id), a.ike.rekeyChild(sa.id, sa.children[0].spiIn)]);
    expect(pong).toEqual({ status: "fulfilled", value: false });
    expect(rekey.status).toBe("rejected");
    expect((rekey as PromiseRejectedResult).reason.code).toBe("ERR_IKE_TIMEOUT");
    expect(a.ike.list()).toEqual([]);
  });

  it("an IKE_SA rekey that gets no answer rejects with ERR_IKE_TIMEOUT when the IKE_SA dies", async () => {
    const { a } = await pair({}, {}, (_n, from) => from === A && established);
    let established = false;
    const sa = await a.ike.initiate("peer");
    established = true;
    await expect(a.ike.rekeyIkeSa(sa.id)).rejects.toMatchObject({ code: "ERR_IKE_TIMEOUT", message: expect.stringMatching(/^rekey of IKE_SA peer\[\d+\] not answered: IKE_SA gone \(/) });
    expect(a.ike.list()).toEqual([]);
  }, 30_000); // a promise that never settles (the bug this guards against) fails here, not at the suite's 300 s
});
