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

interface ConfOpts { proposals?: string; esp?: string; psk?: string; mode?: string; localTs?: string; remoteTs?: string; remoteId?: string; encap?: boolean; conn?: string; child?: string; local?: string; remote?: string; localId?: string }

function conf(me: string, peer: string, opts: ConfOpts = {}) {
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

/** Two endpoints connected back to back; `drop(n)` decides whether the n-th datagram is lost. */
async function pair(aOpts: ConfOpts = {}, bOpts: ConfOpts = {}, drop: (n: number, from: string) => boolean = () => false, extra: Partial<IkeEndpointOptions> = {}) {
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
      const { a, b } = await pair();
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
      expect(a.dp.esp.size).toBe(2);
      await a.ike.close();
      await b.ike.close();
    }
  });

  it("lifetimes: CHILD_SAs rekeyed by rekey_time on both sides (colliding), by rekey_packets, deleted at life_time; IKE_SA rekeyed by rekey_time", async () => {
    const fast = { secondMs: 40, pollMs: 10 };
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
